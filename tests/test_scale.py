"""Training at scale, end to end on real data: a hyperparameter search that is killed and resumed, its bad databases,
and one model trained on two devices under MirroredStrategy (the CPU split into two logical devices)."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import optuna

from conftest import cli, console_script

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
