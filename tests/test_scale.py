"""Training at scale, end to end on real data: a hyperparameter search that is killed and resumed, its bad databases,
and one model trained on two devices under MirroredStrategy (the CPU split into two logical devices); archives
scored and ensemble members trained on Ray started on this machine."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import optuna
import pytest

from pathlib import Path

from conftest import cli, console, console_script

# Ray's cluster on this machine, the PostgreSQL server and the two-device training each take the whole machine: pytest's
# two workers (pytest.ini) run these tests one after another on one of them, while the other takes the rest.
pytestmark = pytest.mark.xdist_group("scale")

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
SMALL = ("--max-train-images", 300, "--epochs", 2)


def finished_count(db) -> int:
    "Finished trials in the SQLite file `db`, read without Optuna while another process writes it (0 before its tables exist)."
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("select count(*) from trials where state in ('COMPLETE', 'PRUNED')").fetchone()[0]
    except sqlite3.Error: return 0


def study_trials(url: str) -> list:
    "The trials of the one study in `url`, read without touching it."
    summaries = optuna.get_all_study_summaries(url)
    return optuna.load_study(study_name=summaries[0].study_name, storage=url).get_trials(deepcopy=False) if summaries else []


def test_tune_killed_mid_trial_resumes_without_repeating_finished_trials(tmp_path):
    url = f"sqlite:///{tmp_path}/study.db"
    args = ["tune", "--trials", 3, *SMALL, "--storage", url, "--out", tmp_path / "best"]
    proc = subprocess.Popen([console_script(), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not finished_count(tmp_path / "study.db"): time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)   # the worst case: no chance to clean up or to mark the running trial
    proc.wait(60)
    before = {t.number: (t.params, t.value) for t in study_trials(url) if t.state in FINISHED}
    assert 1 <= len(before) < 3 and not (tmp_path / "best").exists()

    r = cli(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    trials = study_trials(url)
    finished = [t for t in trials if t.state in FINISHED]
    assert len(finished) == 3                                         # as asked: the killed trial does not count
    assert {t.number: (t.params, t.value) for t in finished if t.number in before} == before   # kept, not repeated
    assert len(trials) - len(finished) <= 1                           # at most the killed trial, left running
    assert "3 finished trials" in r.stdout and "saved run" in r.stdout and "\ntest: n 624 " in r.stdout
    config = json.loads((tmp_path / "best" / "config.json").read_text())
    best = min((t for t in finished if t.state == optuna.trial.TrialState.COMPLETE), key=lambda t: t.value)
    assert (config["size"], config["hyperparameters"]["dropout"]) == (best.params["size"], best.params["dropout"])

    r = cli(*args[:-1], tmp_path / "again")                           # finished already: no trial, only the run
    assert r.returncode == 0 and len(study_trials(url)) == len(trials)


def test_tune_refuses_databases_it_must_not_touch(tmp_path):
    (tmp_path / "notes.db").write_text("my notes")
    with sqlite3.connect(tmp_path / "patients.db") as db: db.execute("create table patients (id integer)")
    for name, message in (("notes.db", "not a SQLite database"), ("patients.db", "holds another program's tables (patients)")):
        before = (tmp_path / name).read_bytes()
        r = cli("tune", *SMALL, "--storage", f"sqlite:///{tmp_path / name}", "--out", tmp_path / "best")
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
        assert (tmp_path / name).read_bytes() == before and not (tmp_path / "best").exists()
    r = cli("tune", "--trials", 0, "--storage", f"sqlite:///{tmp_path}/s.db", "--out", tmp_path / "best")
    assert r.returncode == 2 and "trials must be a positive whole number" in r.stderr


MIRRORED = """
import json, sys
from pathlib import Path
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()]*2)   # before anything runs
from dataclasses import replace
from pneumonia_nb.recipe import Recipe
from pneumonia_nb.runs import train_run
out, common = Path(sys.argv[1]), Recipe(epochs=4, max_train_images=1000, ensemble=1, tta=False)
two = train_run(out/"two", replace(common, batch_size=32, distribute="mirrored"))   # 32 on each device: 64 a step, as below
one = train_run(out/"one", replace(common, batch_size=64, distribute="none"))
print(json.dumps({name: {**{k: run.config[k] for k in ("distribute", "replicas", "global_batch_size")}, "auc": run.metrics["val"]["roc_auc"]}
                  for name, run in (("two", two), ("one", one))}))
"""


def test_mirrored_training_on_two_devices_matches_one_device(tmp_path):
    r = subprocess.run([sys.executable, "-c", MIRRORED, str(tmp_path)], capture_output=True, text=True, timeout=600,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.splitlines()[-1])
    assert [res["two"][k] for k in ("distribute", "replicas", "global_batch_size")] == ["mirrored", 2, 64]
    assert [res["one"][k] for k in ("distribute", "replicas", "global_batch_size")] == ["none", 1, 64]
    assert res["two"]["auc"] > 0.85 and abs(res["two"]["auc"] - res["one"]["auc"]) < 0.05, res


def test_two_tune_processes_share_a_postgresql_study(tmp_path, postgres):
    from conftest import free_port
    for url, message in ((postgres.replace("tuner-secret", "not-the-password"), "password authentication failed"),
                         (postgres.replace(postgres.split(":")[-1].split("/")[0], str(free_port())), "Connection refused")):
        r = cli("tune", *SMALL, "--storage", url, "--out", tmp_path / "best")
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr[-2000:]
        assert "secret" not in r.stderr and "not-the-password" not in r.stderr and "***" in r.stderr
    args = [console_script(), "tune", "--trials", 3, *SMALL, "--storage", postgres, "--out", tmp_path / "best"]
    def start(): return subprocess.Popen(list(map(str, args)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    first, second = start(), start()
    deadline = time.time() + 400
    while time.time() < deadline and not [t for t in study_trials(postgres) if t.state in FINISHED]: time.sleep(0.5)
    first.send_signal(signal.SIGKILL)                                 # one machine lost mid-search
    first.wait(60)
    out, err = second.communicate(timeout=600)                        # the other goes on to the study's 3 trials
    assert second.returncode == 0, err[-3000:]
    trials = study_trials(postgres)
    finished = [t for t in trials if t.state in FINISHED]
    assert len({t.number for t in trials}) == len(trials) and len(finished) == 3   # no number twice; both counted
    assert len(trials) - len(finished) <= 1 and "3 finished trials" in out and "saved run" in out
    created = json.loads((tmp_path / "best" / "config.json").read_text())["created"]

    again = subprocess.run(list(map(str, args)), capture_output=True, text=True, timeout=600,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})   # the lost machine, restarted
    assert again.returncode == 0 and "written by another process of the study: kept" in again.stderr, again.stderr[-2000:]
    assert len(study_trials(postgres)) == len(trials)                 # finished already: no trial
    assert json.loads((tmp_path / "best" / "config.json").read_text())["created"] == created   # written once


def archive_images(tmp_path, n_per_class: int) -> Path:
    "A folder of real X-rays (full-resolution originals, Kermany training images) and two files that are not images."
    import shutil
    from conftest import fullres_images, kermany_images
    folder = tmp_path / "archive"
    folder.mkdir()
    for p in [*fullres_images(), *kermany_images("NORMAL", n_per_class), *kermany_images("PNEUMONIA", n_per_class)]:
        shutil.copy(p, folder / p.name)
    (folder / "notes.png").write_bytes(b"not an image"); (folder / "empty.jpg").write_bytes(b"")
    return folder


def test_predict_to_parquet_killed_mid_archive_resumes_with_each_file_once(tmp_path, run_dir):
    import pandas as pd
    images, out = archive_images(tmp_path, 200), tmp_path / "results.parquet"
    n = len(list(images.iterdir()))                                   # 410 files: 4 parts of 128 when complete
    args = [console_script(), "predict", run_dir, images, "--out", out]
    proc = subprocess.Popen(list(map(str, args)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not list(out.glob("part-*.parquet")): time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)                                  # no chance to finish a part or clean up
    proc.wait(60)
    parts = len(list(out.glob("part-*.parquet")))
    assert 1 <= parts < 4, parts

    r = subprocess.run(list(map(str, args)), capture_output=True, text=True, timeout=600,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert r.returncode == 2, r.stderr[-2000:]                        # files that are not X-rays: said, not fatal
    assert f"{n - 128*parts} images scored, {128*parts} already there; " in r.stderr, r.stderr[-2000:]
    table = pd.read_parquet(out)
    assert len(table) == len(set(table.file)) == n                  # every file exactly once
    assert {"empty.jpg", "notes.png"} <= {Path(f).name for f in table.file[table.error.notna()]}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]   # the killed run's unfinished part is gone
    r = cli("predict", run_dir, images, "--out", out)                 # complete: nothing to do
    assert f"0 images scored, {n} already there" in r.stderr, r.stderr


def test_predict_on_ray_gives_the_in_process_results(tmp_path, run_dir, monkeypatch):
    import json as json_
    import pandas as pd
    images = archive_images(tmp_path, 10)
    here, on_ray = tmp_path / "here.parquet", tmp_path / "ray.parquet"
    assert cli("predict", run_dir, images, "--out", here).returncode == 2
    r = cli("predict", run_dir, images, "--out", on_ray, "--engine", "ray", "--workers", 2)
    n = len(list(images.iterdir()))
    assert r.returncode == 2 and f"{n} images scored, 0 already there; " in r.stderr, r.stderr[-3000:]
    both = pd.read_parquet(here).merge(pd.read_parquet(on_ray), on="file", suffixes=("", "_ray"))
    assert len(both) == n and (both.error.fillna("") == both.error_ray.fillna("")).all()
    assert (both.probability.fillna(-1) - both.probability_ray.fillna(-1)).abs().max() < 1e-6
    assert (both.label.fillna("") == both.label_ray.fillna("")).all() and (both.model.fillna("") == both.model_ray.fillna("")).all()

    from conftest import free_port
    manifest = on_ray / "_manifest.json"
    manifest.write_text(json_.dumps({**json_.loads(manifest.read_text()), "model_sha256": "f" * 64}))
    (tmp_path / "mine.parquet").write_text("a user's file")
    (tmp_path / "theirs.parquet").mkdir()
    for args, message in (
            (["--out", on_ray], "holds the predictions of another run or setting (model_sha256 'fff"),
            (["--out", tmp_path / "mine.parquet"], "exists and is not a results folder"),
            (["--out", tmp_path / "theirs.parquet"], "holds no _manifest.json"),
            (["--out", tmp_path / "new.parquet", "--engine", "ray", "--address", f"127.0.0.1:{free_port()}"],
             "no Ray cluster at 127.0.0.1:"),
            (["--engine", "ray"], "give --out FOLDER.parquet")):
        r = console("predict", run_dir, images, *args)
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr[-2000:]
    assert (tmp_path / "mine.parquet").read_text() == "a user's file" and not (tmp_path / "new.parquet").exists()
    import pneumonia_nb
    installed = pneumonia_nb.__version__
    monkeypatch.setattr(pneumonia_nb, "__version__", "9.9")           # here only: Ray's fresh workers import the real one
    r = cli("predict", run_dir, images, "--out", tmp_path / "new.parquet", "--engine", "ray")
    assert r.returncode == 2 and f"runs pneumonia_nb {installed} (here 9.9); install the same versions" in r.stderr, r.stderr
    assert not (tmp_path / "new.parquet").exists()
    monkeypatch.setitem(sys.modules, "ray", None)                     # Ray not installed
    r = cli("predict", run_dir, images, "--out", tmp_path / "new.parquet", "--engine", "ray")
    assert r.returncode == 2 and "--engine ray needs Ray: pip install 'pneumonia_nb[scale]'" in r.stderr, r.stderr


def test_train_with_ensemble_members_on_ray(tmp_path):
    "`train --engine ray`: the members as Ray tasks on this machine, an ordinary run; a cluster out of reach leaves nothing."
    from conftest import free_port
    out = tmp_path / "on-ray"
    r = cli("train", *SMALL, "--ensemble", 2, "--no-tta", "--engine", "ray", "--out", out)
    assert r.returncode == 0 and f"saved run {out} (2 models:" in r.stdout, r.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert (config["ensemble"], len(config["members"])) == (2, 2)
    for args, message in ((["--engine", "ray", "--address", f"127.0.0.1:{free_port()}"], "no Ray cluster at 127.0.0.1:"),
                          (["--address", "auto"], "--address auto is a Ray cluster's: give --engine ray too")):
        r = console("train", *SMALL, *args, "--out", tmp_path / "never")
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr[-2000:]
        assert not (tmp_path / "never").exists()
