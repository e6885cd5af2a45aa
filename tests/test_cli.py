"""The pneumonia-nb command end to end, on real data: train a small run, evaluate it, predict real X-rays, bad input."""
import csv
import json

import pytest
from pathlib import Path

import pneumonia_nb
from pneumonia_nb.recipe import Recipe

from conftest import chromium_driver, cli, console, fullres_images, kermany_images


def test_help_for_every_verb():
    for verb in ([], ["train"], ["tune"], ["evaluate"], ["predict"], ["report"], ["serve"], ["export"]):
        r = cli(*verb, "--help")
        assert r.returncode == 0 and "usage: pneumonia-nb" in r.stdout
    r = cli("--version")
    assert r.returncode == 0 and r.stdout == f"pneumonia-nb {pneumonia_nb.__version__}\n"


def test_train_writes_a_complete_run(run_dir):
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "config.json", "history.csv", "metrics.json", "model.keras", "ood.npz", "training_curves.png"]
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["dataset"], config["model"], config["size"], config["train_images"]) == ("pneumoniamnist", "cnn", 28, 1000)
    assert config["resize"] == "crop" and config["temperature"] > 0   # PneumoniaMNIST's own preprocessing; calibrated
    assert config["calibration"] == "temperature" and config["offsets"] == [0, 0]   # by a temperature alone
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for split in ("val", "test"):
        assert {"accuracy", "precision", "recall", "specificity", "f1", "roc_auc", "pr_auc", "brier", "ece", "threshold",
                "confusion_matrix", "n"} <= set(metrics[split])
    assert metrics["val"]["roc_auc"] > 0.8
    assert metrics["test"]["threshold"] == config["threshold"]


def test_train_through_the_command_line(tmp_path):
    out = tmp_path / "quick"
    r = console("train", "--epochs", 1, "--max-train-images", 300, "--calibration", "offset", "--out", out)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "saved run" in r.stdout and "\ntest: n 624 " in r.stdout, r.stdout
    assert "; 3 models averaged (seeds 42 to 44), with test-time views\nmodel 1 of 3 (seed 42)\n" in r.stderr, r.stderr[:2000]   # whose epochs
    assert f"saved run {out} (3 models: 1 epoch (kept " in r.stdout, r.stdout   # each member's epochs, and the one it kept
    config = json.loads((out / "config.json").read_text())
    assert [m["epochs_run"] for m in config["members"]] == [1, 1, 1] and config["train_images"] == 300
    assert config["calibration"] == "offset" and len(config["offsets"]) == 2 and config["offsets"][1] != 0   # as asked
    # the command's recipe is the Python one: the session's `run_dir`, trained from Python, stands for the command's run
    assert Recipe.from_config(config) == Recipe(epochs=1, max_train_images=300, calibration="offset").resolved()


def test_evaluate_writes_metrics_and_never_overwrites(run_dir, tmp_path):
    out = tmp_path / "val.json"
    r = cli("evaluate", run_dir, "--split", "val", "--out", out)
    assert r.returncode == 0, r.stderr
    m = json.loads(out.read_text())
    saved = json.loads((run_dir / "metrics.json").read_text())["val"]
    assert m["n"] == 524 and abs(m["roc_auc"] - saved["roc_auc"]) < 1e-9
    assert " sensitivity 0." in r.stdout and " recall " not in r.stdout   # the report's words
    assert f"{m['ood_flagged']:.1%} would be refused as unlike the training X-rays" in r.stdout, r.stdout
    r = cli("evaluate", run_dir, "--split", "val", "--out", out)
    assert r.returncode == 2 and "never written over" in r.stderr


def test_evaluate_on_a_kermany_folder_with_only_test(run_dir, tmp_path):
    for cls in ("NORMAL", "PNEUMONIA"):
        (tmp_path / "kermany" / "test" / cls).mkdir(parents=True)
        for f in kermany_images(cls, 20):
            (tmp_path / "kermany" / "test" / cls / f.name).symlink_to(f)
    r = cli("evaluate", run_dir, "--dataset", "kermany", "--data-dir", tmp_path / "kermany", "--split", "test")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("kermany test: n 40 ")


def test_predict_real_fullres_xrays(run_dir):
    images = fullres_images()
    r = cli("predict", run_dir, *images)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [Path(x["file"]).name for x in lines] == [p.name for p in images]
    for x in lines:
        assert 0 <= x["probability"] <= 1 and x["label"] in ("NORMAL", "PNEUMONIA")
        assert x["label"] == ("PNEUMONIA" if x["probability"] >= x["threshold"] else "NORMAL")


def test_predict_reports_a_bad_image_and_fails(run_dir, tmp_path):
    bad = tmp_path / "broken.jpeg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    good = fullres_images()[0]
    r = cli("predict", run_dir, good, bad)
    assert r.returncode == 2
    first, second = map(json.loads, r.stdout.splitlines())
    assert "probability" in first and second["error"].startswith(f"{bad}: ")


@pytest.mark.parametrize("args, message", [
    (["train", "--model", "alexnet", "--out", "x"], "invalid choice: 'alexnet'"),
    (["train", "--dataset", "chexpert", "--out", "x"], "invalid choice: 'chexpert'"),
    (["evaluate", "no_such_run"], "no_such_run: no such run directory"),
    (["serve", "no_such_run"], "no_such_run: no such run directory"),
    (["train", "--epochs", "0", "--out", "x"], "epochs must be a positive whole number, not 0"),
    (["train", "--size", "0", "--out", "x"], "size must be a positive whole number, not 0"),
    (["train", "--batch-size", "-1", "--out", "x"], "batch size must be a positive whole number, not -1"),
    (["train", "--max-train-images", "0", "--out", "x"], "max train images must be a positive whole number, not 0"),
    (["train", "--distribute", "tpu", "--out", "x"], "--distribute tpu: no TPU found"),
    (["train", "--dropout", "1.5", "--out", "x"], "dropout must be at least 0 and below 1, not 1.5"),
    (["train", "--learning-rate", "0", "--out", "x"], "learning rate must be above 0 and below 1, not 0.0"),
    (["train", "--schedule", "step", "--out", "x"], "invalid choice: 'step'"),
    (["train", "--mixup", "-0.2", "--out", "x"], "mixup must be at least 0 and below 10, not -0.2"),
    (["train", "--dataset", "kermany", "--task", "three_class", "--mixup", "0.2", "--out", "x"], "a task of 3 classes cannot use it"),
    (["train", "--out", "/proc/run"], "/proc/run: nothing can be written into /proc"),
    (["predict", "no_such_run", "x.jpeg"], "no_such_run: no such run directory"),
])
def test_bad_names_and_paths(tmp_path, args, message):
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr
    assert "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_existing_run_dir_is_refused(run_dir):
    before = {p.name: p.stat().st_mtime for p in run_dir.iterdir()}
    r = cli("train", "--epochs", 1, "--out", run_dir)
    assert r.returncode == 2 and "already exists" in r.stderr
    assert {p.name: p.stat().st_mtime for p in run_dir.iterdir()} == before


def test_foreign_run_dir_is_refused(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "config.json").write_text('{"project": "something else"}')
    r = cli("evaluate", tmp_path / "notes")
    assert r.returncode == 2 and "not a pneumonia_nb run" in r.stderr


def test_one_class_data_set_stops_before_training(tmp_path):
    for split in ("train", "test"):
        (tmp_path / "normal_only" / split / "NORMAL").mkdir(parents=True)
        for f in kermany_images("NORMAL", 10):
            (tmp_path / "normal_only" / split / "NORMAL" / f.name).symlink_to(f)
    r = cli("train", "--dataset", "kermany", "--data-dir", tmp_path / "normal_only", "--size", 32, "--out", tmp_path / "run")
    assert r.returncode == 2 and "only one class" in r.stderr
    assert not (tmp_path / "run").exists()


def test_report_renders_in_a_real_browser(run_dir, tmp_path):
    out = tmp_path / "report.html"
    r = cli("report", run_dir, "--split", "test", "--out", out)
    assert r.returncode == 0 and r.stderr.startswith(f"report: scoring {run_dir} on its test split"), r.stderr[-2000:]
    browser = chromium_driver()
    try:
        browser.get(out.as_uri())
        images = browser.execute_script(
            "return [...document.images].map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])")
        text = browser.find_element("tag name", "body").text
    finally:
        browser.quit()
    assert len(images) == 5, images
    assert all(complete and w > 100 and h > 100 for _, complete, w, h in images), images
    assert "Grad-CAM" in " ".join(alt for alt, *_ in images) and "Calibration before and after" in " ".join(alt for alt, *_ in images)
    assert "Sensitivity" in text and "Other thresholds" in text and "About this model" in text and "Run configuration" in text
    r = cli("report", run_dir, "--split", "test", "--out", out)
    assert r.returncode == 2 and "never written over" in r.stderr


def test_overwrite_never_replaces_a_users_folder_or_the_working_directory(tmp_path):
    (tmp_path / "thesis" / "sub").mkdir(parents=True)
    (tmp_path / "thesis" / "thesis.txt").write_text("mine")
    (tmp_path / "thesis" / "sub" / "notes.md").write_text("mine too")
    r = cli("train", "--overwrite", "--out", tmp_path / "thesis")
    assert r.returncode == 2 and "is not a pneumonia_nb run" in r.stderr and "Traceback" not in r.stderr
    r = cli("train", "--overwrite", "--out", ".", cwd=tmp_path / "thesis")
    assert r.returncode == 2 and "is the working directory" in r.stderr
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "thesis", "thesis/sub", "thesis/sub/notes.md", "thesis/thesis.txt"]


def test_two_trainings_into_one_directory_never_lose_a_run(tmp_path):
    import subprocess
    from conftest import console_script
    cmd = [console_script(), "train", "--epochs", "1", "--max-train-images", "200", "--ensemble", "1", "--no-tta",
           "--out", str(tmp_path / "run")]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(300), p.stderr.read()) for p in procs]
    assert sorted(rc for rc, _ in results) == [0, 2], results
    assert "already exists" in next(err for rc, err in results if rc == 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert {"config.json", "model.keras", "metrics.json"} <= {p.name for p in (tmp_path / "run").iterdir()}


@pytest.mark.parametrize("moment", ["starting", "epochs"])
def test_sigterm_during_training_leaves_nothing_behind(tmp_path, moment):
    "SIGTERM as training starts (data, model, tf.function tracing: see `cli.interruptible`) or once epochs run."
    import os, signal, subprocess, time
    from conftest import console_script
    (tmp_path / "tmp").mkdir()
    proc = subprocess.Popen([console_script(), "train", "--epochs", "30", "--out", str(tmp_path / "runs" / "run")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmp_path / "tmp"), "TF_CPP_MIN_LOG_LEVEL": "3"})
    begun = {"starting": lambda: any((tmp_path / "tmp").iterdir()),   # the work folder exists
             "epochs": lambda: any(p.is_file() for p in (tmp_path / "tmp").rglob("*"))}[moment]   # the first checkpoint
    deadline = time.time() + 120
    while time.time() < deadline and not begun(): time.sleep(0.05)
    time.sleep({"starting": 1.2, "epochs": 2}[moment])
    proc.send_signal(signal.SIGTERM)
    rc, err = proc.wait(120), proc.stderr.read()
    assert rc == 130, err[:2000]
    assert err.strip().splitlines()[-1] == "pneumonia-nb: interrupted; nothing half-written was left behind"
    assert "Traceback" not in err
    assert list((tmp_path / "tmp").iterdir()) == []
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []


def test_ctrl_c_during_predict_is_one_line(run_dir, tmp_path):
    "Issue 31: Ctrl+C while a folder was predicted printed a 100-line traceback; now one line, rc 130, no cut result."
    import os, signal, subprocess
    from conftest import console_script
    (tmp_path / "ward").mkdir()
    for i, f in enumerate(kermany_images("NORMAL", 1000)): (tmp_path / "ward" / f"x{i:04d}.jpeg").symlink_to(f)
    proc = subprocess.Popen([console_script(), "predict", str(run_dir), str(tmp_path / "ward")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    # the first answer (predicting has begun), a byte at a time: the lines a buffered readline() took past it would
    # be missing from what communicate() reads off the pipe, and its output would start inside a line
    fd, first = proc.stdout.fileno(), b""
    while not first.endswith(b"\n") and (byte := os.read(fd, 1)): first += byte
    proc.send_signal(signal.SIGINT)
    rest, err = (out.decode() for out in proc.communicate(timeout=120))
    first = first.decode()
    assert proc.returncode == 130, (first, err[-2000:])
    assert all(json.loads(line)["file"] for line in (first + rest).splitlines()), rest[-500:]   # every result whole
    assert err.strip().splitlines()[-1] == "pneumonia-nb: interrupted; nothing half-written was left behind", err[-2000:]
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err[-2000:]


def test_predict_refuses_what_is_not_a_chest_xray(run_dir, tmp_path):
    import cv2, numpy as np
    cv2.imwrite(str(tmp_path / "black.png"), np.zeros((512, 512), np.uint8))
    cv2.imwrite(str(tmp_path / "stripe.png"), np.tile(np.arange(256, dtype=np.uint8), (1, 20)))
    gradient = np.dstack([*np.meshgrid(np.linspace(0, 255, 300), np.linspace(0, 255, 200)), np.full((200, 300), 128.0)])
    cv2.imwrite(str(tmp_path / "gradient.jpeg"), gradient.astype(np.uint8))
    good = fullres_images()[0]
    r = cli("predict", run_dir, good, tmp_path / "black.png", tmp_path / "stripe.png", tmp_path / "gradient.jpeg")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    first, *others = map(json.loads, r.stdout.splitlines())
    assert "probability" in first
    assert [o["error"].split(": ", 1)[1].startswith("not recognised as a chest X-ray") for o in others] == [True] * 3, others


def test_predict_refuses_a_blurred_xray_instead_of_calling_it_pneumonia(run_dir, tmp_path):
    """Issue 31: blur turned normal X-rays into confident pneumonia; the run's sharpness check refuses what is too soft.

    A blur of 8% of the width is beyond the strongest a run can tolerate (`tolerated_blur` tries up to 4%)."""
    import cv2
    normals = [f for f in fullres_images() if "NORMAL" in str(f)][:3]
    for i, f in enumerate(normals):
        img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(tmp_path / f"soft{i}.png"), cv2.GaussianBlur(img, (0, 0), 0.08*img.shape[1]))
    r = cli("predict", run_dir, *normals, *sorted(tmp_path.glob("soft*.png")))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    out = list(map(json.loads, r.stdout.splitlines()))
    assert all("probability" in o for o in out[:len(normals)]), out
    assert all("too blurred for the model to judge" in o["error"] for o in out[len(normals):]), out


def test_serve_on_a_busy_port_says_so_in_one_line(run_dir):
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0)); busy.listen()
        r = cli("serve", run_dir, "--port", busy.getsockname()[1])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("pneumonia-nb: error: cannot listen on 127.0.0.1:"), r.stderr[-500:]


def test_evaluate_out_in_an_impossible_folder_fails_before_any_work(run_dir, tmp_path):
    (tmp_path / "file.txt").write_text("a file, not a folder")
    for verb, out in (("evaluate", "metrics.json"), ("report", "report.html"), ("train", "run")):
        r = cli(verb, *([run_dir] if verb != "train" else []), "--out", tmp_path / "file.txt" / out)
        assert r.returncode == 2 and "file.txt is a file, not a folder" in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("args, message", [
    (["--port", "70000"], "port must be 1 to 65535, not 70000"),
    (["--max-upload-mb", "inf"], "upload limit must be a number of megabytes"),
])
def test_serve_options(run_dir, args, message):
    r = cli("serve", run_dir, *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_refusals_that_need_no_model_come_before_tensorflow(run_dir, tmp_path):
    "A mistyped run, a missing image, an existing output: one line, and TensorFlow never imported (issue: 6-15 s refusals)."
    import subprocess, sys
    (tmp_path / "taken.csv").write_text("mine")
    for argv in (["evaluate", "runs/mian"], ["predict", str(run_dir), str(tmp_path / "absent.jpeg")],
                 ["predict", str(run_dir), str(tmp_path), "--out", str(tmp_path / "taken.csv")], ["train", "--out", str(run_dir)]):
        code = f"import sys; from pneumonia_nb.cli import main; rc = main({argv!r}); print(rc, 'tensorflow' in sys.modules)"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert r.stdout.split() == ["2", "False"] and len(r.stderr.strip().splitlines()) == 1, (argv, r.stdout, r.stderr)
    assert (tmp_path / "taken.csv").read_text() == "mine"


def test_ensemble_with_tta_through_every_verb(tmp_path):
    out = tmp_path / "ens"
    r = cli("train", "--epochs", 1, "--max-train-images", 400, "--ensemble", 2, "--tta", "--augment", "acquisition", "--out", out)
    assert r.returncode == 0, r.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert (config["ensemble"], config["tta"], config["augment"]) == (2, True, "acquisition")
    r = cli("evaluate", out, "--split", "val")
    assert r.returncode == 0 and r.stdout.startswith("pneumoniamnist val: n 524 "), r.stderr
    r = cli("predict", out, fullres_images()[0])
    assert r.returncode == 0, r.stderr
    assert "ensemble of 2, TTA" in json.loads(r.stdout)["model"]
    r = cli("report", out, "--split", "val", "--out", tmp_path / "report.html")
    assert r.returncode == 0 and (tmp_path / "report.html").stat().st_size > 10_000, r.stderr
    r = cli("evaluate", out, "--tta")   # the run already averages over views
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "already averages over test-time views" in r.stderr


def test_main_job_recipe_and_round_2_recipe(run_dir, tmp_path):
    "The default is three CNNs with TTA; --ensemble 1 --no-tta gives one plain CNN, to which predict can add TTA."
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["ensemble"], config["tta"]) == (3, True)
    r = cli("predict", run_dir, "--tta", fullres_images()[0])
    assert r.returncode == 2 and "already averages over test-time views" in r.stderr
    single = tmp_path / "single"
    r = cli("train", "--epochs", 1, "--max-train-images", 300, "--ensemble", 1, "--no-tta", "--out", single)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "model 1 of" not in r.stderr and f"saved run {single} (1 epoch (kept 1); " in r.stdout, r.stdout
    assert (json.loads((single / "config.json").read_text())["ensemble"], json.loads((single / "config.json").read_text())["tta"]) == (1, False)
    r = cli("predict", single, "--tta", fullres_images()[0])
    assert r.returncode == 0 and "TTA" in json.loads(r.stdout)["model"], r.stderr


@pytest.mark.parametrize("args, message", [
    (["--ensemble", "0"], "ensemble size must be a positive whole number"),
    (["--augment", "heavy"], "invalid choice: 'heavy'"),
])
def test_bad_ensemble_and_augmentation(tmp_path, args, message):
    r = cli("train", *args, "--out", tmp_path / "x")
    assert r.returncode == 2 and message in r.stderr and not (tmp_path / "x").exists()


def test_help_needs_no_tensorflow_and_commands_print_no_tensorflow_logs(run_dir):
    import subprocess, sys
    code = "import sys, pneumonia_nb.cli as c; c.parser(); assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    r = console("evaluate", run_dir, "--split", "val")   # a fresh process, where TensorFlow starts and could speak
    assert r.returncode == 0 and r.stderr == "", r.stderr
    r = console("evaluate", "no-such-run")
    assert r.stderr.splitlines() == ["pneumonia-nb: error: no-such-run: no such run directory"], r.stderr


def test_pathogen_task_through_every_verb(tmp_path):
    "Bacterial vs viral on real Kermany images: train, evaluate and report on a folder with only test/, predict, the web API."
    run = tmp_path / "kinds"
    r = cli("train", "--dataset", "kermany", "--task", "pathogen", "--size", 32, "--epochs", 2, "--max-train-images", 400, "--out", run)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((run / "config.json").read_text())["class_names"] == ["BACTERIAL", "VIRAL"]
    pneumonia = kermany_images("PNEUMONIA", 40)
    (tmp_path / "official" / "test" / "PNEUMONIA").mkdir(parents=True)
    for f in pneumonia: (tmp_path / "official" / "test" / "PNEUMONIA" / f.name).symlink_to(f)
    (tmp_path / "official" / "test" / "NORMAL").mkdir()
    for f in kermany_images("NORMAL", 5): (tmp_path / "official" / "test" / "NORMAL" / f.name).symlink_to(f)
    r = cli("evaluate", run, "--data-dir", tmp_path / "official", "--split", "test")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("kermany test: n 40 "), r.stdout   # the pneumonia images only; normal ones are not this task's
    r = cli("predict", run, pneumonia[0])
    answer = json.loads(r.stdout)
    assert r.returncode == 0 and answer["probability_of"] == "VIRAL" and answer["label"] in ("BACTERIAL", "VIRAL"), (r.stdout, r.stderr)
    r = cli("report", run, "--data-dir", tmp_path / "official")
    assert r.returncode == 0, r.stderr
    page = (run / "report-kermany-test.html").read_text()
    assert "of the X-rays with viral pneumonia, the share labelled VIRAL" in page and "By cause" not in page
    r = cli("train", "--task", "pathogen", "--epochs", 1, "--out", tmp_path / "mnist-kinds")
    assert r.returncode == 2 and "the pathogen task needs file names that name the pathogen" in r.stderr, r.stderr
    from pneumonia_nb.serve import create_app
    client = create_app(run).test_client()
    reply = client.post("/api/predict", data={"file": (open(pneumonia[0], "rb"), pneumonia[0].name)})
    assert reply.status_code == 200 and reply.json["probability_of"] == "VIRAL", reply.json


def test_three_class_task_through_every_verb(tmp_path):
    "Normal, bacterial or viral on real Kermany images: train, evaluate and report on a folder with only test/, predict, shift, the web API, export."
    run = tmp_path / "three"
    r = cli("train", "--dataset", "kermany", "--task", "three_class", "--size", 32, "--epochs", 2, "--max-train-images", 600, "--out", run)
    assert r.returncode == 0, r.stderr[-2000:]
    config = json.loads((run / "config.json").read_text())
    assert (config["class_names"], config["threshold"]) == (["NORMAL", "BACTERIAL", "VIRAL"], None)
    assert list(config["operating_points"]) == ["NORMAL", "BACTERIAL", "VIRAL", "PNEUMONIA"], config
    assert "macro_roc_auc" in r.stdout and "VIRAL: n " in r.stdout and "PNEUMONIA at its operating point: threshold " in r.stdout, r.stdout
    (tmp_path / "official" / "test").mkdir(parents=True)
    for cls, n in (("PNEUMONIA", 30), ("NORMAL", 10)):
        (tmp_path / "official" / "test" / cls).mkdir()
        for f in kermany_images(cls, n): (tmp_path / "official" / "test" / cls / f.name).symlink_to(f)
    r = cli("evaluate", run, "--data-dir", tmp_path / "official", "--split", "test")
    assert r.returncode == 0 and r.stdout.startswith("kermany test: n 40 "), (r.stdout, r.stderr)
    assert "which kind, among pneumonia: n 30 " in r.stdout and "VIRAL at its operating point" in r.stdout, r.stdout
    xray = kermany_images("PNEUMONIA", 1)[0]
    answer = json.loads(cli("predict", run, xray).stdout)
    assert set(answer["probabilities"]) == {"NORMAL", "BACTERIAL", "VIRAL"} and answer["label"] == max(answer["probabilities"], key=answer["probabilities"].get)
    assert abs(sum(answer["probabilities"].values()) - 1) < 1e-4 and answer["threshold"] is None
    two = answer["two_stage"]
    assert two["threshold"] == config["operating_points"]["PNEUMONIA"] and abs(two["pneumonia"] - 1 + answer["probabilities"]["NORMAL"]) < 1e-5, two
    r = cli("report", run, "--data-dir", tmp_path / "official")
    assert r.returncode == 0, r.stderr
    report = (run / "report-kermany-test.html").read_text()
    assert "Sensitivity, viral pneumonia" in report and "among the 30 X-rays with pneumonia" in report and "pneumonia of either kind (first stage)" in report
    (tmp_path / "site").mkdir()
    for f in kermany_images("NORMAL", 30) + kermany_images("PNEUMONIA", 30): (tmp_path / "site" / f.name).symlink_to(f)
    r = cli("shift", run, tmp_path / "site")
    assert r.returncode == 0 and "\npneumonia share: " in r.stdout, (r.stdout, r.stderr[-2000:])   # of either kind
    r = cli("export", run, "--format", "onnx", "--out", tmp_path / "three.onnx")
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "three.onnx.json").read_text())
    assert meta["threshold"] is None and "the most probable is the label" in meta["output"] and meta["operating_points"] == config["operating_points"]
    import onnxruntime
    session = onnxruntime.InferenceSession(str(tmp_path / "three.onnx"))
    assert session.get_outputs()[0].shape[-1] == 3
    from pneumonia_nb.serve import create_app
    client = create_app(run).test_client()
    reply = client.post("/api/predict", data={"file": (open(xray, "rb"), xray.name)})
    assert reply.status_code == 200 and reply.json["probabilities"] == answer["probabilities"], reply.json
    assert "the most probable of normal, bacterial and viral is called" in client.get("/").get_data(as_text=True)
    r = cli("train", "--task", "three_class", "--epochs", 1, "--out", tmp_path / "mnist-three")
    assert r.returncode == 2 and "the three_class task needs file names that name the pathogen" in r.stderr, r.stderr


def test_predict_a_folder_to_csv(run_dir, tmp_path):
    folder = tmp_path / "ward"
    (folder / "day1").mkdir(parents=True)
    images = fullres_images()[:4]
    for f in images: (folder / "day1" / f.name).symlink_to(f)
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    (folder / "notes.txt").write_text("not an image, not listed")
    out = tmp_path / "results" / "predictions.csv"
    r = cli("predict", run_dir, folder, "--out", out)
    assert r.returncode == 2 and "1 of 5 images were not predicted" in r.stderr and r.stdout == "", (r.stdout, r.stderr)
    rows = list(csv.DictReader(out.open()))
    assert [Path(x["file"]).name for x in rows] == ["broken.png", *sorted(f.name for f in images)]
    assert "not an image file" in rows[0]["error"] and all(x["label"] in ("NORMAL", "PNEUMONIA") and not x["error"] for x in rows[1:])
    r = cli("predict", run_dir, folder, "--out", out)
    assert r.returncode == 2 and "already exists" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["predictions.csv"]


def test_export_to_onnx_answers_as_predict(run_dir, tmp_path):
    "The exported ONNX model, run with ONNX Runtime alone on a real X-ray made square as the metadata says, gives predict's probability."
    import numpy as np
    import onnxruntime as ort
    from pneumonia_nb.data import decode_xray, resize_xray
    out = tmp_path / "exports" / "model.onnx"
    r = cli("export", run_dir, "--format", "onnx", "--out", out)
    assert r.returncode == 0 and r.stdout.startswith("exported "), r.stderr
    meta = json.loads(out.with_name("model.onnx.json").read_text())
    xray = fullres_images()[0]
    size = meta["input"]["shape"][1]
    x = resize_xray(decode_xray(xray.read_bytes(), xray.name, 2*size), size, meta["input"]["resize"])[None]   # decoded as predict does
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    probability = float(session.run(None, {session.get_inputs()[0].name: x})[0].ravel()[0])
    predicted = json.loads(cli("predict", run_dir, xray).stdout)
    assert abs(probability - predicted["probability"]) < 1e-4
    assert abs(meta["threshold"] - predicted["threshold"]) < 1e-6   # predict rounds to 6 digits; the export keeps the run's
    r = cli("export", run_dir, "--format", "onnx", "--out", out)
    assert r.returncode == 2 and "already exists" in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_a_file_name_that_is_not_utf8_keeps_every_row(run_dir, tmp_path):
    "Issue 31: one odd name used to end the CSV with a UnicodeEncodeError and no file; now every good file keeps its row."
    import csv, os
    folder = tmp_path / "ward"; folder.mkdir()
    good = fullres_images()[0].read_bytes()
    for name in (b"a_good.jpeg", b"b_\xff\xfe.jpeg", b"c_good.jpeg"):
        with open(os.path.join(os.fsencode(folder), name), "wb") as f: f.write(good)
    r = cli("predict", run_dir, folder, "--out", tmp_path / "ward.csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(tmp_path / "ward.csv", encoding="utf-8")))
    assert [Path(row["file"]).name for row in rows] == ["a_good.jpeg", "b_\\xff\\xfe.jpeg", "c_good.jpeg"], rows
    assert all(row["probability"] for row in rows) and "1 file name is not valid UTF-8" in r.stderr


def test_out_onto_a_dangling_link_is_refused(run_dir, tmp_path):
    (tmp_path / "x.csv").symlink_to(tmp_path / "nowhere.csv")
    r = cli("predict", run_dir, fullres_images()[0], "--out", tmp_path / "x.csv")
    assert r.returncode == 2 and "a link to nothing; results are never written through a link" in r.stderr
    assert not (tmp_path / "nowhere.csv").exists()


def test_predict_on_an_empty_folder_says_so(run_dir, tmp_path):
    "Nothing to predict is an error, not a silent exit 0 (and no header-only CSV)."
    (tmp_path / "empty").mkdir()
    r = cli("predict", run_dir, tmp_path / "empty", "--out", tmp_path / "x.csv")
    assert r.returncode == 2 and "no images here" in r.stderr and not (tmp_path / "x.csv").exists(), r.stderr
