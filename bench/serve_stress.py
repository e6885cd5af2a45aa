"""The web app under attack and under load: memory for pixel bombs and deflated DICOMs, threads for stalled clients.

Starts `pneumonia-nb serve RUN` in its own process and measures it from outside (/proc: resident memory, its peak,
threads), in three phases:

1. 16 concurrent uploads of a 125 KB 16-bit PNG of 59 megapixels (just under the pixel limit), 4 deflated
   DICOMs of 6 megapixels (a 0.1 MB file that inflates to 12 MB) and 4 deflated DICOMs that inflate past the
   121 MB limit with their transfer syntax past byte 2048 of a padded meta group: the peak memory above idle.
2. 300 clients (from another loopback address) that send half a request and stall, then 16 concurrent real
   requests (a real X-ray): every real request must get 200 and the answer one request alone gets; the server's
   threads stay at its cap; all but `per_client` stalled connections are closed at once, the rest after the timeout.
3. 100 slow clients (from a third address) that send one byte every 2 s and never finish a request: the longest a
   normal client waits for a health answer meanwhile, and when the slow ones are dropped.

    python bench/serve_stress.py --run runs/main --out bench/results/serve_stress.json
"""
import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests


def proc_status(pid: int) -> dict:
    "Resident memory now and at its peak (MB), and threads, from /proc."
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {"rss_mb": int(fields["VmRSS"].split()[0]) / 1024, "peak_mb": int(fields["VmHWM"].split()[0]) / 1024,
            "threads": int(fields["Threads"])}


def reset_peak(pid: int) -> None:
    "Start the peak resident memory afresh (Linux 4.0+)."
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def post(url: str, data: bytes, name: str, mimetype: str) -> requests.Response:
    return requests.post(f"{url}/api/predict", files={"file": (name, data, mimetype)}, timeout=300)


def attack_files(tmp: Path) -> dict[str, tuple[bytes, str, str]]:
    "A 59-megapixel 16-bit PNG and a deflated DICOM that inflates 100-fold."
    import cv2, pydicom
    from pydicom.uid import DeflatedExplicitVRLittleEndian
    from pneumonia_nb.data import save_dicom
    bomb = cv2.imencode(".png", np.zeros((7680, 7680), np.uint16))[1].tobytes()
    ds = pydicom.dcmread(save_dicom(np.zeros((2000, 3000), np.uint8), tmp / "zeros.dcm", bits=12))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(tmp / "deflated.dcm", enforce_file_format=True)
    big = pydicom.dcmread(save_dicom(np.zeros((7700, 7700), np.uint8), tmp / "big.dcm", bits=12))   # 119 MB of 16-bit pixels
    big.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    big.file_meta.FileMetaInformationVersion = b"\0\1" + bytes(4000)   # the transfer syntax past byte 2048
    big.PixelData = big.PixelData + bytes(4*2**20)   # and more than it says: inflates past the 121 MB limit
    big.save_as(tmp / "padded.dcm", enforce_file_format=True)
    return {"pixel bomb": (bomb, "bomb.png", "image/png"), "padded deflated bomb": ((tmp / "padded.dcm").read_bytes(), "padded.dcm", "application/dicom"),
            "deflated DICOM": ((tmp / "deflated.dcm").read_bytes(), "deflated.dcm", "application/dicom")}


REQUEST_SECONDS = 20   # the bench's request deadline (the default is 60 s)


def slow_clients(url: str, port: int, n: int) -> dict:
    "`n` clients from 127.0.0.3 each sending a byte every 2 s; a normal client's health checks meanwhile, every 0.5 s."
    import select
    socks = [socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.3", 0)) for _ in range(n)]
    t0, dropped, waits, last_byte = time.monotonic(), {}, [], 0.0
    while time.monotonic() - t0 < REQUEST_SECONDS + 10 and len(dropped) < n:
        live = {i: s for i, s in enumerate(socks) if i not in dropped}
        if time.monotonic() - last_byte >= 2:
            last_byte = time.monotonic()
            for i, s in live.items():
                try: s.sendall(b"P")
                except OSError: dropped[i] = time.monotonic() - t0
        for s in select.select([s for i, s in live.items() if i not in dropped], [], [], 0)[0]:
            try: gone = s.recv(1) == b""
            except OSError: gone = True
            if gone: dropped[socks.index(s)] = time.monotonic() - t0
        start = time.perf_counter()
        requests.get(f"{url}/api/health", timeout=60); waits.append(time.perf_counter() - start)
        time.sleep(0.5)
    for s in socks: s.close()
    times = sorted(dropped.values())
    return {"clients": n, "dropped": len(dropped), "dropped_at_once": sum(t < 2 for t in times),
            "last_dropped_s": times[-1] if times else None, "health_checks": len(waits),
            "health_seconds_median": float(np.median(waits)), "health_seconds_max": max(waits)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", required=True, help="a run directory to serve")
    p.add_argument("--stalled", type=int, default=300)
    p.add_argument("--concurrent", type=int, default=16)
    p.add_argument("--slow", type=int, default=100)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    from pneumonia_nb.data import sample_originals
    port, tmp = free_port(), Path(tempfile.mkdtemp())
    url = f"http://127.0.0.1:{port}"
    code = (f"from pneumonia_nb.serve import ServerLimits, serve; "
            f"serve({args.run!r}, port={port}, limits=ServerLimits(idle_seconds=10, request_seconds={REQUEST_SECONDS}))")
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        for _ in range(240):
            try:
                if requests.get(f"{url}/api/health", timeout=2).ok: break
            except requests.ConnectionError: time.sleep(0.5)
        xray = sample_originals(1)[-1]
        alone = post(url, xray.read_bytes(), xray.name, "image/jpeg").json()   # warm: the model has run once
        idle = proc_status(server.pid)
        files = attack_files(tmp)
        reset_peak(server.pid)
        t0 = time.perf_counter()
        uploads = [files["pixel bomb"]] * 16 + [files["deflated DICOM"]] * 4 + [files["padded deflated bomb"]] * 4
        with ThreadPoolExecutor(len(uploads)) as pool:
            answers = list(pool.map(lambda f: post(url, *f), uploads))
        attack = {"seconds": time.perf_counter() - t0, "statuses": sorted({r.status_code for r in answers}),
                  "peak_above_idle_mb": proc_status(server.pid)["peak_mb"] - idle["rss_mb"],
                  "file_kb": {k: len(v[0]) / 1024 for k, v in files.items()}}

        stalled = []
        for _ in range(args.stalled):
            s = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0))
            try: s.sendall(b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\nab")
            except OSError: pass   # closed at once: over the cap from one address
            stalled.append(s)
        reset_peak(server.pid)
        threads = []
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.concurrent) as pool:
            futures = [pool.submit(post, url, xray.read_bytes(), xray.name, "image/jpeg") for _ in range(args.concurrent)]
            while not all(f.done() for f in futures): threads.append(proc_status(server.pid)["threads"]); time.sleep(0.05)
        real = [f.result() for f in futures]
        load = {"seconds": time.perf_counter() - t0, "all_200": all(r.status_code == 200 for r in real),
                "same_answer_as_alone": all(r.json() == alone for r in real if r.status_code == 200),
                "server_threads_max": max(threads), "server_threads_idle": idle["threads"],
                "peak_above_idle_mb": proc_status(server.pid)["peak_mb"] - idle["rss_mb"]}
        time.sleep(16)   # past the channel timeout (10 s) and one cleanup interval
        closed = 0
        for s in stalled:
            s.settimeout(2)
            try: closed += s.recv(1) == b""
            except ConnectionResetError: closed += 1
            except socket.timeout: pass
            s.close()
        load["stalled_closed_after_timeout"] = closed
        slow = slow_clients(url, port, args.slow)
    finally:
        server.terminate(); server.wait(20)
    import pneumonia_nb
    report = {"benchmark": "pneumonia-nb serve under attack and load", "command": "python bench/serve_stress.py " + " ".join(sys.argv[1:]),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                          "pneumonia_nb": pneumonia_nb.__version__},
              "idle": idle, "attack": attack, "load": load, "slow_clients": slow,
              "goals": {"at most 300 MB above idle under the attack": attack["peak_above_idle_mb"] <= 300,
                        f"{args.concurrent} concurrent real requests all 200 with the same answer": load["all_200"] and load["same_answer_as_alone"],
                        f"{args.stalled} stalled clients closed after the timeout": closed == args.stalled,
                        f"a normal client answered within 1 s while {args.slow} clients trickle": slow["health_seconds_max"] < 1,
                        f"every slow client dropped within {REQUEST_SECONDS + 5} s": slow["dropped"] == args.slow
                                                                                    and slow["last_dropped_s"] <= REQUEST_SECONDS + 5}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
