"""The web app end to end: `pneumonia-nb serve` in its own process on a real run, a real headless Chromium on its
upload page, every kind of bad upload over HTTP, 50 requests at once, and the production WSGI route (waitress)."""
import base64
import os
import select
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

import pneumonia_nb
from conftest import chromium_driver, console_script, fullres_images
from pneumonia_nb.data import read_xray, save_dicom

MAX_UPLOAD_MB = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list, cwd: Path, url: str, env: dict | None = None) -> subprocess.Popen:
    "Start a server process and wait until its health check answers."
    proc = subprocess.Popen([*map(str, cmd)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None: pytest.fail(f"the server exited: {proc.stdout.read()[-3000:]}")
        try:
            if requests.get(f"{url}/api/health", timeout=2).ok: return proc
        except requests.ConnectionError: time.sleep(0.5)
    proc.kill(); pytest.fail(f"no answer from {url} within 120 s: {proc.stdout.read()[-3000:]}")


def stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try: out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired: proc.kill(); out, _ = proc.communicate()
    return out


@pytest.fixture(scope="module")
def server(run_dir, tmp_path_factory):
    "`pneumonia-nb serve RUN` with its default host, started in an empty working directory."
    work = tmp_path_factory.mktemp("serve-cwd")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start([console_script(), "serve", run_dir, "--port", port, "--max-upload-mb", MAX_UPLOAD_MB], work, url)
    yield url, work
    stop(proc)


def post(url: str, data: bytes, name: str = "x.jpeg", mimetype: str = "image/jpeg", **form) -> requests.Response:
    return requests.post(f"{url}/api/predict", files={"file": (name, data, mimetype)}, data=form, timeout=120)


def test_binds_to_this_machine_only(server):
    url, _ = server
    assert requests.get(f"{url}/api/health").json()["status"] == "ok"
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as s:   # another loopback address: reachable only if the server listened on every interface
        assert s.connect_ex(("127.0.1.1", port)) != 0


def test_predicts_real_xrays_and_dicom(server, run_dir, tmp_path):
    url, _ = server
    from pneumonia_nb.predict import Predictor
    predictor = Predictor(run_dir)
    for path in fullres_images()[:3]:
        answer = post(url, path.read_bytes(), path.name).json()
        expected = predictor.predict(path, path.name).as_dict()
        assert answer == {**expected, "probability": pytest.approx(expected["probability"], abs=1e-6)}
    path = fullres_images()[-1]
    dcm = save_dicom(read_xray(path), tmp_path / "xray.dcm", photometric="MONOCHROME1", bits=12, rescale=(2.0, -1024.0))
    r = post(url, dcm.read_bytes(), "xray.dcm", "application/dicom", heatmap="1")
    assert r.status_code == 200 and r.json()["label"] == predictor.predict(path).label()
    assert base64.b64decode(r.json()["heatmap_png"])[:4] == b"\x89PNG"


def test_every_bad_upload_gets_a_json_error_and_the_server_keeps_serving(server, tmp_path):
    url, work = server
    import cv2, numpy as np
    jpeg = fullres_images()[0].read_bytes()
    bomb = cv2.imencode(".png", np.zeros((20000, 20000), np.uint8))[1].tobytes()
    cases = [
        (lambda: post(url, b"\0" * int((MAX_UPLOAD_MB + 1) * 1e6)), 413, "upload too large"),
        (lambda: post(url, b"%PDF-1.4 not an image", "scan.jpeg"), 400, "scan.jpeg: not an image file"),
        (lambda: post(url, jpeg[: len(jpeg) // 2], "cut.jpeg"), 400, "cut.jpeg: corrupt image"),
        (lambda: post(url, jpeg, "x.jpeg", "text/html"), 400, "content type 'text/html'"),
        (lambda: requests.post(f"{url}/api/predict", json={"file": "x"}), 400, "expected multipart/form-data"),
        (lambda: requests.post(f"{url}/api/predict"), 400, "expected multipart/form-data"),
        (lambda: requests.post(f"{url}/api/predict", files={"image": ("x.jpeg", jpeg)}), 400, "no file"),
        (lambda: post(url, b"", "empty.png", "image/png"), 400, "empty.png: empty file"),
        (lambda: post(url, bomb, "bomb.png", "image/png"), 400, "bomb.png: image too large"),
        (lambda: requests.post(f"{url}/api/predict", files={"file": (None, b"\0" * 600_000)}), 413,
         "a form field without a file name is over 500 KB"),
        (lambda: post(url, jpeg, note="y" * 1_000_000), 413, "a form field without a file name is over 500 KB"),
    ]
    package_files = sorted(Path(pneumonia_nb.__file__).parent.rglob("*"))
    for send, status, message in cases:
        r = send()
        assert r.status_code == status and message in r.json()["error"], (status, r.status_code, r.text[:300])
        assert post(url, jpeg).status_code == 200
    assert list(work.iterdir()) == [], "the server wrote into its working directory"
    assert sorted(Path(pneumonia_nb.__file__).parent.rglob("*")) == package_files


def test_50_concurrent_requests_none_dropped(server):
    url, _ = server
    images = fullres_images()
    solo = {p.name: post(url, p.read_bytes(), p.name).json()["probability"] for p in images}
    jobs = [images[i % len(images)] for i in range(50)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda i: post(url, jobs[i].read_bytes(), jobs[i].name, heatmap=str(i % 2)), range(50)))
    assert [r.status_code for r in answers] == [200] * 50
    for p, r in zip(jobs, answers):
        assert r.json()["file"] == p.name and r.json()["probability"] == pytest.approx(solo[p.name], abs=1e-6)


def test_upload_page_in_a_real_browser(server, tmp_path):
    url, _ = server
    xray = fullres_images()[-1]
    expected = post(url, xray.read_bytes(), xray.name).json()
    (tmp_path / "notes.txt").write_text("not an x-ray")
    from selenium.webdriver.support.ui import WebDriverWait
    browser = chromium_driver()
    try:
        browser.get(url + "/")
        assert "Drop a chest X-ray here" in browser.find_element("id", "drop").text
        browser.find_element("id", "file").send_keys(str(xray))
        WebDriverWait(browser, 60).until(lambda b: b.find_element("id", "label").text in ("NORMAL", "PNEUMONIA"))
        label = browser.find_element("id", "label").text
        probability = browser.find_element("id", "probability").text
        size = "const i = document.getElementById(arguments[0]); return i.complete ? [i.naturalWidth, i.naturalHeight] : null"
        heatmap = WebDriverWait(browser, 30).until(lambda b: b.execute_script(size, "heatmap"))
        preview = WebDriverWait(browser, 30).until(lambda b: b.execute_script(size, "preview"))
        view = browser.find_element("id", "view").text
        browser.save_screenshot(str(tmp_path / "prediction.png"))
        browser.find_element("id", "file").send_keys(str(tmp_path / "notes.txt"))
        WebDriverWait(browser, 60).until(lambda b: b.find_element("id", "status").text.startswith("notes.txt: "))
        error = browser.find_element("id", "status").text
    finally:
        browser.quit()
    assert label == expected["label"] and probability == f"{expected['probability']:.3f}"
    # the main job's runs crop: the page says the sides of a wide upload were left out of what the model saw
    from pneumonia_nb.predict import VIEW_WORDS
    assert view == VIEW_WORDS["crop"], view
    from PIL import Image
    with Image.open(xray) as im: original = im.size
    assert heatmap == [512, 512], heatmap   # a PneumoniaMNIST run crops: the heatmap covers the centre square the model saw
    assert tuple(preview) == original, preview
    assert error == "notes.txt: content type 'text/plain' is not an X-ray image; send JPEG, PNG or DICOM", error


def test_three_class_upload_page_in_a_real_browser(tmp_path):
    "A normal / bacterial / viral run: the page names the rule, shows every class's probability and the two-stage reading, and no threshold."
    run = tmp_path / "three"
    r = subprocess.run([console_script(), "train", "--dataset", "kermany", "--task", "three_class", "--size", "32", "--epochs", "1",
                        "--max-train-images", "400", "--out", str(run)], capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert r.returncode == 0, r.stderr[-2000:]
    port = free_port(); url = f"http://127.0.0.1:{port}"
    proc = start([console_script(), "serve", run, "--port", port], tmp_path, url)
    xray = fullres_images()[-1]
    from selenium.webdriver.support.ui import WebDriverWait
    browser = chromium_driver()
    try:
        expected = post(url, xray.read_bytes(), xray.name).json()
        browser.get(url + "/")
        assert "the most probable of normal, bacterial and viral is called" in browser.find_element("tag name", "body").text
        browser.find_element("id", "file").send_keys(str(xray))
        WebDriverWait(browser, 60).until(lambda b: b.find_element("id", "label").text in ("NORMAL", "BACTERIAL", "VIRAL"))
        shown, binary = browser.find_element("id", "classes").text, browser.find_element("id", "binary").is_displayed()
        label, reading = browser.find_element("id", "label").text, browser.find_element("id", "reading").text
        browser.save_screenshot(str(tmp_path / "three-class-page.png"))
    finally:
        browser.quit(); stop(proc)
    assert label == expected["label"] and not binary and list(expected["probabilities"]) == ["NORMAL", "BACTERIAL", "VIRAL"]
    assert shown == " \u00b7 ".join(f"{c.lower()} {p:.3f}" for c, p in expected["probabilities"].items()), shown
    two = expected["two_stage"]
    call = "at or above" if two["pneumonia_call"] else "below"
    assert reading == (f"Two-stage reading: pneumonia of either kind {round(100*two['pneumonia'])}% ({call} the {round(100*two['threshold'])}% operating point "
                       f"chosen on validation); if pneumonia, more likely {two['kind'].lower()} ({round(100*two['kind_share'])}% of it)."), reading


def test_production_wsgi_server_waitress(run_dir, tmp_path):
    "The README's production route: waitress-serve --call pneumonia_nb.serve:app_from_env."
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    waitress = Path(sys.executable).parent / "waitress-serve"
    proc = start([waitress, "--host", "127.0.0.1", "--port", port, "--threads", 4, "--call", "pneumonia_nb.serve:app_from_env"],
                 tmp_path, url, env={"PNEUMONIA_NB_RUN": str(run_dir)})
    try:
        xray = fullres_images()[0]
        r = post(url, xray.read_bytes(), xray.name)
        assert r.status_code == 200 and r.json()["label"] in ("NORMAL", "PNEUMONIA")
        assert post(url, b"nope", "bad.png", "image/png").status_code == 400
    finally:
        stop(proc)


def test_security_headers_and_no_server_software(server):
    url, _ = server
    for r in (requests.get(url), requests.get(f"{url}/api/health"), post(url, b"nope", "bad.png", "image/png")):
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Cache-Control"] == "no-store"
        assert "Server" not in r.headers, r.headers.get("Server")
    r = requests.get(f"{url}/api/predict")
    assert r.status_code == 405 and r.headers["Allow"] and "error" in r.json()


def test_other_host_names_are_refused_on_localhost(server):
    "DNS rebinding: a page on evil.example resolving to 127.0.0.1 must not reach the app."
    url, _ = server
    assert requests.get(f"{url}/api/health", headers={"Host": "evil.example"}).status_code == 400
    port = url.rsplit(":", 1)[1]
    assert requests.get(f"{url}/api/health", headers={"Host": f"localhost:{port}"}).status_code == 200


def test_no_answer_names_the_run_path(server, run_dir):
    url, _ = server
    xray = fullres_images()[0]
    for text in (requests.get(url).text, requests.get(f"{url}/api/health").text, post(url, xray.read_bytes(), xray.name).text):
        assert str(run_dir.parent) not in text


def test_windows_and_non_utf8_file_names(server):
    url, _ = server
    xray = fullres_images()[0]
    for name in ("C:\\Users\\me\\xray.jpeg", "../../etc/cron.d/xray.jpeg", "/tmp/xray.jpeg"):   # a name for messages only
        r = post(url, xray.read_bytes(), name)
        assert r.status_code == 200 and r.json()["file"] == "xray.jpeg", (name, r.text)
    body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r\xf6ntgen.jpeg\"\r\n"
            b"Content-Type: image/jpeg\r\n\r\n" + xray.read_bytes() + b"\r\n--b--\r\n")
    t0 = time.monotonic()
    r = requests.post(f"{url}/api/predict", data=body, headers={"Content-Type": "multipart/form-data; boundary=b"}, timeout=60)
    assert r.status_code == 400 and "the file name is not UTF-8 text" in r.json()["error"] and time.monotonic() - t0 < 30, r.text


def test_stalled_clients_are_dropped_and_real_requests_served(run_dir, tmp_path):
    "Clients that send half a request hold no worker thread, are dropped after the timeout, and real requests go on."
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    code = f"from pneumonia_nb.serve import ServerLimits, serve; serve({str(run_dir)!r}, port={port}, limits=ServerLimits(idle_seconds=3))"
    proc = start([sys.executable, "-c", code], tmp_path, url)
    try:
        stalled = []
        for _ in range(50):
            s = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0))   # not the real requests' address
            s.sendall(b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\nab")
            stalled.append(s)
        xray = fullres_images()[0]
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: post(url, xray.read_bytes(), xray.name), range(16)))
        assert all(r.status_code == 200 for r in answers) and len({r.json()["probability"] for r in answers}) == 1
        time.sleep(5)
        for s in stalled:   # the server closed them: reading reaches the end (or a reset) within seconds
            s.settimeout(5)
            try:
                while s.recv(4096): pass
            except ConnectionResetError: pass
            s.close()
    finally:
        stop(proc)


OVERLAPS = """
const boxes = [...document.querySelectorAll(arguments[0])].filter(e => e.offsetParent !== null)
  .map(e => [e.id || e.tagName, e.getBoundingClientRect()]);
const hits = [];
for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
  const [a, r] = boxes[i], [b, s] = boxes[j];
  if (r.left < s.right - 1 && s.left < r.right - 1 && r.top < s.bottom - 1 && s.top < r.bottom - 1) hits.push(a + " / " + b);
}
return hits;"""


@pytest.mark.parametrize("width", [1280, 375])
def test_upload_page_boxes_never_overlap(server, tmp_path, width):
    "At desktop and phone width, with a prediction and then an error shown, no two boxes of the page overlap."
    url, _ = server
    from selenium.webdriver.support.ui import WebDriverWait
    (tmp_path / "notes.txt").write_text("not an x-ray")
    browser = chromium_driver()
    try:
        browser.set_window_size(width, 900)
        browser.get(url + "/")
        browser.find_element("id", "file").send_keys(str(fullres_images()[-1]))
        WebDriverWait(browser, 60).until(lambda b: b.find_element("id", "label").text in ("NORMAL", "PNEUMONIA"))
        WebDriverWait(browser, 30).until(lambda b: b.execute_script("return document.getElementById('heatmap').complete"))
        boxes = "h1, body > p, #drop, #status, #result > p, figure"
        assert browser.execute_script(OVERLAPS, boxes) == []
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")   # no sideways scrolling
        browser.save_screenshot(str(tmp_path / f"prediction-{width}.png"))
        browser.find_element("id", "file").send_keys(str(tmp_path / "notes.txt"))
        WebDriverWait(browser, 60).until(lambda b: b.find_element("id", "status").text.startswith("notes.txt: "))
        assert browser.execute_script(OVERLAPS, boxes) == []
        browser.save_screenshot(str(tmp_path / f"error-{width}.png"))
    finally:
        browser.quit()


def test_a_body_over_the_limit_is_refused_before_it_is_read(server):
    "A client announcing 1 GB gets 413 at once, from its Content-Length, without sending (or the server reading) the body; waitress' own 400 and 413 carry the security headers."
    url, _ = server
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                  b"Content-Length: 1000000000\r\n\r\n--b\r\n")
        t0 = time.monotonic()
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413") and time.monotonic() - t0 < 5, answer[:200]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n")
        malformed = s.recv(4096)
    assert malformed.startswith(b"HTTP/1.1 400"), malformed[:200]
    for waitress_answer in (answer, malformed):   # waitress' own answers carry the app's security headers too
        assert b"X-Content-Type-Options: nosniff" in waitress_answer and b"Content-Security-Policy:" in waitress_answer
    assert requests.get(f"{url}/api/health", timeout=10).ok


def test_slow_clients_lock_nobody_out(run_dir, tmp_path):
    "Clients that trickle a byte a second are dropped once their request has taken too long, more than the cap from one address are closed at once, and a normal client is answered throughout."
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    code = (f"from pneumonia_nb.serve import ServerLimits, serve; "
            f"serve({str(run_dir)!r}, port={port}, limits=ServerLimits(per_client=10, request_seconds=4))")
    proc, slow = start([sys.executable, "-c", code], tmp_path, url), []
    try:
        slow = [socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0)) for _ in range(30)]   # not the normal client's address
        t0, dropped_at = time.monotonic(), {}
        while time.monotonic() - t0 < 12 and len(dropped_at) < len(slow):
            live = {i: s for i, s in enumerate(slow) if i not in dropped_at}
            for i, s in live.items():
                try: s.sendall(b"P")   # a byte a second, never a whole request
                except OSError: dropped_at[i] = time.monotonic() - t0
            for s in select.select([s for i, s in live.items() if i not in dropped_at], [], [], 0)[0]:
                try: closed = s.recv(1) == b""
                except OSError: closed = True
                if closed: dropped_at[slow.index(s)] = time.monotonic() - t0
            assert requests.get(f"{url}/api/health", timeout=5).ok   # the normal client, answered throughout
            time.sleep(1)
        assert len(dropped_at) == len(slow), f"{len(slow) - len(dropped_at)} slow clients still connected after 12 s"
        late = sorted(dropped_at.values())
        assert late[len(slow) - 10 - 1] < 2, late   # the 20 over the cap closed at once
        assert all(3 < t < 9 for t in late[-10:]), late   # the 10 let in dropped a little after 4 s
    finally:
        for s in slow: s.close()
        stop(proc)
