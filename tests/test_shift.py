"""`shift` and `adapt` as a user runs them: a site folder of real X-rays (PneumoniaMNIST validation images written as PNG
files, resampled to a pneumonia share of 0.5), a report, an adapted run that the other verbs take, and bad input."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import chromium_driver, cli


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from pneumonia_nb.data import load_splits
    val = load_splits("pneumoniamnist", 28, splits=("val",))["val"]
    rng, folder = np.random.default_rng(3), tmp_path_factory.mktemp("site")
    for i in np.concatenate([rng.choice(np.flatnonzero(val.labels == c), 100, replace=False) for c in (0, 1)]):
        Image.fromarray(val.images[i]).save(folder / f"x{i:04d}.png")
    return folder


def test_shift_reports_the_site(run_dir, site, tmp_path):
    out = tmp_path / "site.json"
    r = cli("shift", run_dir, site, "--out", out)
    assert r.returncode == 0, r.stderr[-2000:]
    usable = int(r.stdout.split(" usable")[0].split()[-1])
    assert r.stdout.startswith("site: 200 images, ") and usable >= 190, r.stdout   # the OOD score refuses about 0.5% of real X-rays
    report = json.loads(out.read_text())
    assert abs(report["class_shares"]["site"][1] - 0.5) < 0.1, report["class_shares"]
    assert report["advice"] in r.stdout
    again = cli("shift", run_dir, site, "--out", out)   # an existing report is never written over, and refused before any work
    assert again.returncode == 2 and "already exists" in again.stderr and again.stdout == ""


def test_shift_page_in_a_real_browser(run_dir, site, tmp_path):
    "`shift --html` writes one self-contained page: the advice first, the two histograms, the numbers; never over a file."
    page = tmp_path / "site.html"
    r = cli("shift", run_dir, site, "--html", page)
    assert r.returncode == 0 and f"wrote {page}" in r.stdout, r.stderr[-2000:]
    browser = chromium_driver()
    try:
        browser.get(page.as_uri())
        images = browser.execute_script("return [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        text = browser.find_element("tag name", "body").text
        browser.save_screenshot(str(tmp_path / "site.png"))
    finally:
        browser.quit()
    assert len(images) == 1 and all(ok and w > 400 and h > 150 for ok, w, h in images), images
    advice = r.stdout.strip().splitlines()[-2]
    assert advice in text and "Pneumonia share" in text and "beyond validation's 95th" in text, text[:1000]
    assert str(site) not in text   # refused files by name, not by where they lie
    again = cli("shift", run_dir, site, "--html", page)
    assert again.returncode == 2 and "already exists" in again.stderr and again.stdout == ""


@pytest.fixture(scope="module")
def adapted(run_dir, site, tmp_path_factory):
    "`run_dir` adapted to `site` once for the module, and what `adapt` printed."
    out = tmp_path_factory.mktemp("adapted") / "adapted"
    r = cli("adapt", run_dir, site, "--out", out)
    assert r.returncode == 0, r.stderr[-2000:]
    return out, r.stdout


def test_adapted_run_is_an_ordinary_run(run_dir, site, adapted, tmp_path):
    adapted, printed = adapted
    assert f"saved run {adapted}, {run_dir.name} adapted to 19" in printed and "every decision as before" in printed
    config = json.loads((adapted / "config.json").read_text())
    assert config["adapted"]["source_run"] == run_dir.name and len(config["adapted"]["images_digest"]) == 64
    files = sorted(site.glob("*.png"))[:5]
    before, after = (cli("predict", d, *files) for d in (run_dir, adapted))
    assert before.returncode == after.returncode == 0, after.stderr
    labels = lambda out: [json.loads(line)["label"] for line in out.stdout.splitlines()]
    assert labels(before) == labels(after)   # the same decisions, corrected probabilities
    assert cli("evaluate", adapted, "--split", "val").returncode == 0
    exported = cli("export", adapted, "--format", "onnx", "--out", tmp_path / "adapted.onnx")
    assert exported.returncode == 0, exported.stderr[-2000:]


def _cropped(image: np.ndarray) -> np.ndarray:
    "The image's central 80%, enlarged back: a site that frames the chest tighter."
    keep = int(round(28*0.8)); edge = (28 - keep)//2
    return np.asarray(Image.fromarray(image[edge:edge + keep, edge:edge + keep]).resize((28, 28), Image.BILINEAR))


def _faded(image: np.ndarray) -> np.ndarray:
    "The image at half its contrast, about its own mean: a washed-out site."
    return np.round(image.mean() + 0.5*(image.astype(np.float32) - image.mean())).astype(np.uint8)


@pytest.mark.parametrize("change, said, found", [(_cropped, "zoomed by 0.", ("framed", "zoom", 0.8)),
                                                 (_faded, "with grey levels v read as", ("exposed", "gain", 0.5))],
                         ids=["cropped", "faded"])
def test_adapt_undoes_a_sites_framing_or_exposure(one_model_run, site, tmp_path, change, said, found):
    "A site cropped to its central 80%, or at half its contrast: found from its mean image, undone in the adapted model."
    import onnxruntime as ort
    from pneumonia_nb.data import load_splits
    changed = tmp_path / "changed"; changed.mkdir()
    for f in sorted(site.glob("*.png")): Image.fromarray(change(np.asarray(Image.open(f)))).save(changed / f.name)
    r = cli("adapt", one_model_run, changed, "--out", tmp_path / "reframed")
    assert r.returncode == 0 and f"reframed ({said}" in r.stdout, (r.stdout, r.stderr[-2000:])
    framing = json.loads((tmp_path / "reframed" / "config.json").read_text())["adapted"]["framing"]
    counts, key, value = found
    assert framing[counts] and abs(framing[key] - value) < 0.05, framing
    val = load_splits("pneumoniamnist", 28, splits=("val",))["val"]
    truth = {f.name: ["NORMAL", "PNEUMONIA"][int(val.labels[int(f.stem[1:])])] for f in changed.glob("*.png")}
    def answers(run): return [json.loads(line) for line in cli("predict", run, changed).stdout.splitlines()]
    def accuracy(answered): return np.mean([a["label"] == truth[a["file"].split("/")[-1]] for a in answered if "label" in a])
    reframed = answers(tmp_path / "reframed")
    assert accuracy(reframed) > accuracy(answers(one_model_run))
    exported = cli("export", tmp_path / "reframed", "--format", "onnx", "--out", tmp_path / "reframed.onnx")
    assert exported.returncode == 0, exported.stderr[-2000:]
    first = next(a for a in reframed if "probability" in a)   # the gate refuses some enlarged images as blurred
    session = ort.InferenceSession(str(tmp_path / "reframed.onnx"), providers=["CPUExecutionProvider"])
    x = np.asarray(Image.open(first["file"]), np.uint8)[None, ..., None]
    assert abs(float(session.run(None, {session.get_inputs()[0].name: x})[0].ravel()[0]) - first["probability"]) < 1e-4

def test_a_squashed_sites_framing_is_read_as_found(one_model_run, tmp_path):
    "The validation patients' Kermany 224 px copies, squashed whole: framed otherwise, no zoom explains it, none undone."
    from pneumonia_nb.data import load_splits
    sys.path.insert(0, str(Path(__file__).parents[1]/"bench"))
    from shift import kermany_copies
    val = load_splits("pneumoniamnist", 28, splits=("val",))["val"]
    copies = kermany_copies(val.images, val.labels, None)   # stops unless each finds its own copy, of its class
    assert len(set(copies)) == len(val.labels)
    squashed = tmp_path / "squashed"; squashed.mkdir()
    for i, f in enumerate(np.random.default_rng(0).choice(copies, 200, replace=False)):
        shutil.copy(f, squashed / f"c{i:03d}.jpeg")   # anonymous names: no class in them
    r = cli("shift", one_model_run, squashed, "--out", tmp_path / "squashed.json")
    framing = json.loads((tmp_path / "squashed.json").read_text())["framing"]
    assert r.returncode == 0 and framing["framed"] and framing["explained"] is False and not framing["reframing"], framing
    assert "but no zoom and move explains it" in r.stdout and "`adapt` reads their framing as it is" in r.stdout, r.stdout


def _blurred(image: np.ndarray) -> np.ndarray:
    "The image softened by a Gaussian of 3% of its width: a site whose detector is softer than the training images'."
    import cv2
    return np.round(cv2.GaussianBlur(image.astype(np.float32), (0, 0), 0.03*28)).astype(np.uint8)


def test_adapt_matches_a_softer_sites_blur(one_model_run, site, tmp_path):
    "A site softer than the run tolerates: refused image by image as trained; adapted, read at a threshold for its blur."
    from pneumonia_nb.data import load_splits
    from pneumonia_nb.run_folder import load_run
    soft = tmp_path / "soft"; soft.mkdir()
    for f in sorted(site.glob("*.png")): Image.fromarray(_blurred(np.asarray(Image.open(f)))).save(soft / f.name)
    r = cli("adapt", one_model_run, soft, "--out", tmp_path / "matched")
    assert r.returncode == 0 and "as soft as validation blurred by" in r.stdout, (r.stdout, r.stderr[-2000:])
    adapted = json.loads((tmp_path / "matched" / "config.json").read_text())
    softness, source = adapted["adapted"]["softness"], load_run(one_model_run)
    assert abs(softness["blur"] - 0.03) <= 0.0025 and softness["threshold"] > source.threshold, softness
    assert softness["moves"] and adapted["adapted"]["softness"]["expected_gain"] >= 0.01   # half the site is normal
    val = load_splits("pneumoniamnist", 28, splits=("val",))["val"]
    names = sorted(f.name for f in soft.glob("*.png"))
    truth = {n: ["NORMAL", "PNEUMONIA"][int(val.labels[int(n[1:-4])])] for n in names}
    def answers(run): return [json.loads(line) for line in cli("predict", run, soft).stdout.splitlines()]
    as_trained, matched = answers(one_model_run), answers(tmp_path / "matched")
    assert sum("too blurred" in a.get("error", "") for a in as_trained) > len(names)/2   # the run's own gate refuses them
    answered = [a for a in matched if "label" in a]
    assert len(answered) >= 0.95*len(names), [a for a in matched if "error" in a][:3]
    # what the source run would have called them, had its gate let them by
    x = np.stack([np.asarray(Image.open(soft / n)) for n in names])[..., None].astype(np.float32)
    called = np.where(source.model.predict(x, verbose=0).ravel() >= source.threshold, "PNEUMONIA", "NORMAL")
    before = np.mean([c == truth[n] for c, n in zip(called, names)])
    after = np.mean([a["label"] == truth[a["file"].split("/")[-1]] for a in answered])
    assert after > before, (before, after)

def _site_labels(site, path, rows=None):
    "A labels CSV for `site`: `rows` (file, label), or 15 images of each class with their true labels."
    import pandas as pd
    from pneumonia_nb.data import load_splits
    if rows is None:
        val = load_splits("pneumoniamnist", 28, splits=("val",))["val"]
        files = sorted(site.glob("*.png"))
        truth = {f.name: int(val.labels[int(f.stem[1:])]) for f in files}
        rows = [(name, ["NORMAL", "PNEUMONIA"][c]) for c in (0, 1) for name in [n for n, y in truth.items() if y == c][:15]]
    pd.DataFrame(rows, columns=["file", "label"]).to_csv(path, index=False)
    return path


def test_adapt_with_a_labelled_sample(run_dir, site, tmp_path):
    "`adapt --labels`: the calibration and threshold refitted on 30 labelled images, said so, recorded in the run."
    labels = _site_labels(site, tmp_path / "labels.csv")
    r = cli("adapt", run_dir, site, "--labels", labels, "--out", tmp_path / "adapted")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "against 0.500 in the labelled sample" in r.stdout and "chosen on the 30 labelled images (youden)" in r.stdout, r.stdout
    sample = json.loads((tmp_path / "adapted" / "config.json").read_text())["adapted"]["labelled_sample"]
    assert sample["images"] == 30 and sample["per_class"] == [15, 15] and "flatter" in sample["note"]
    assert cli("predict", tmp_path / "adapted", sorted(site.glob("*.png"))[0]).returncode == 0


@pytest.mark.parametrize("case", ["missing", "unknown", "label", "few"])
def test_bad_labels_get_one_line(run_dir, site, tmp_path, case):
    first = sorted(site.glob("*.png"))[0].name
    rows = {"unknown": [("elsewhere.png", "NORMAL"), ("elsewhere.png", "PNEUMONIA")] * 15, "label": [(first, "unsure")],
            "few": [(first, "NORMAL")]}
    labels = tmp_path / "nowhere.csv" if case == "missing" else _site_labels(site, tmp_path / "labels.csv", rows[case])
    message = {"missing": "nowhere.csv: no such labels file", "unknown": "30 of its files are not one of the site's usable images",
               "label": "the label 'unsure' is not one of the run's classes (NORMAL, PNEUMONIA)",
               "few": "1 labelled images (1 NORMAL, 0 PNEUMONIA); refitting needs at least 20"}[case]
    r = cli("adapt", run_dir, site, "--labels", labels, "--out", tmp_path / "new")
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("case", ["few", "exists", "twice", "empty"])
def test_bad_sites_get_one_line(run_dir, site, adapted, tmp_path, case):
    few = tmp_path / "few"; few.mkdir()
    for f in sorted(site.glob("*.png"))[:10]: (few / f.name).write_bytes(f.read_bytes())
    (tmp_path / "taken").mkdir()
    args, message = {"few": ([run_dir, few, "--out", tmp_path / "new"], "usable images of 10: a site needs at least 50"),
                     "exists": ([run_dir, site, "--out", tmp_path / "taken"], "already exists"),
                     "twice": ([adapted[0], site, "--out", tmp_path / "new"], "already adapted to a site; adapt its source run"),
                     "empty": ([run_dir, tmp_path / "taken", "--out", tmp_path / "new"], "no images found")}[case]
    r = cli("adapt", *args)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "new").exists()
