"""The Kermany default recipe of each task: validation figures over seeds, and the wall time of each whole run.

Each run is exactly what a user types, `pneumonia-nb train --dataset kermany --task TASK --seed SEED --out RUN` (no other
option: the CNN at 128 px, `default_epochs` epochs, the run's own patient split with that seed), timed from the command's
start to its end, on at most 2 CPU cores. Tasks are interleaved seed by seed, so a slow moment of the machine touches
both alike, and the JSON is rewritten after every run, so an interrupted benchmark keeps what it measured. Figures are
validation only (the test folder is not read): the official test set is measured independently. Each row records the
machine's 1-minute load average before and after it, so a run that shared the cores says so, and the precision it
trained in (`--precision auto`: mixed bfloat16 on a CPU that computes it natively); the wall time is summarised for
each precision apart.

    python bench/tasks.py --out bench/results/tasks.json --runs-dir /tmp/task-runs

The run directories are kept (`--runs-dir`) for the reading-order notebook and for later scoring. Each run takes the
machine for 25-50 minutes, so seeds can be run one session at a time: `--append` adds them to an existing `--out`
(a seed measured again replaces its row), and `commands` lists every invocation the file holds (with RUNS for the
runs folder). The default pneumonia task is measured only when asked (`--tasks pneumonia`): it trains the same CNN on
the same images for the same epochs as the three-class task, so it times what the independent measurement runs.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from seeds import spread

CORES = 2
TWO_CLASS_FIGURES = ("accuracy", "roc_auc", "recall", "specificity", "brier", "ece")
FIGURES = {"pneumonia": TWO_CLASS_FIGURES, "pathogen": TWO_CLASS_FIGURES,
           "three_class": ("accuracy", "macro_roc_auc", "log_loss", "ece")}


def run_row(task: str, seed: int, run_dir: Path, data_dir: str | None) -> dict:
    "Train one default-recipe run with the command line, timed end to end, and read its validation figures."
    cmd = ["pneumonia-nb", "train", "--dataset", "kermany", "--task", task, "--seed", str(seed), "--out", str(run_dir)]
    if data_dir: cmd += ["--data-dir", data_dir]
    load_before, t0 = os.getloadavg()[0], time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    config = json.loads((run_dir/"config.json").read_text())
    val = json.loads((run_dir/"metrics.json").read_text())["val"]
    return {"seed": seed, "wall_minutes": wall/60, "precision": config["device"].get("precision", "float32"), "epochs_run": config["epochs_run"], "load_before": load_before,
            "load_after": os.getloadavg()[0], "validation_images": val["n"], "train_images": config["train_images"],
            "temperature": config["temperature"], "threshold": config["threshold"], "confusion_matrix": val["confusion_matrix"],
            **{k: val[k] for k in FIGURES[task]}, **(two_stage_figures(val) if task == "three_class" else {})}


def two_stage_figures(val: dict) -> dict:
    "A three-class run read in two stages: pneumonia at its validation operating point (and normal's AUC), then which kind (AUC on the pneumonia images)."
    first = val["operating_points"]["PNEUMONIA"]
    return {"first_stage_sensitivity": first["sensitivity"], "first_stage_specificity": first["specificity"],
            "normal_roc_auc": val["classes"]["NORMAL"]["roc_auc"], "kind_roc_auc": val["pneumonia_kind"]["roc_auc"]}


def wall_minutes(rows: list[dict]) -> dict:
    "The wall time over seeds for each precision the runs trained in: the time depends on it, the validation figures do not measurably (`bench/results/precision.json`)."
    return {precision: spread([r["wall_minutes"] for r in rows if r["precision"] == precision]) for precision in sorted({r["precision"] for r in rows})}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", nargs="+", default=["pathogen", "three_class"], choices=list(FIGURES))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--data-dir", help="the Kermany folders (default: $PNEUMONIA_NB_DATA)")
    p.add_argument("--runs-dir", required=True, help="a new folder for the run directories")
    p.add_argument("--out", required=True)
    p.add_argument("--append", action="store_true", help="add these runs to the ones already in --out")
    args = p.parse_args()
    if len(os.sched_getaffinity(0)) > CORES: os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:CORES]))
    import tensorflow as tf, keras, pneumonia_nb
    earlier = json.loads(Path(args.out).read_text()) if args.append and Path(args.out).exists() else {"commands": [], "tasks": {}}
    report = {"benchmark": "the Kermany default recipe of each task over seeds, validation only, each run timed end to end",
              "commands": earlier["commands"] + ["python bench/tasks.py " + " ".join(sys.argv[1:]).replace(args.runs_dir, "RUNS")],
              "machine": {"cores": CORES, "platform": platform.platform(), "python": platform.python_version(),
                          "tensorflow": tf.__version__, "keras": keras.__version__, "pneumonia_nb": pneumonia_nb.__version__},
              "tasks": earlier["tasks"] | {t: {"runs": []} for t in args.tasks if t not in earlier["tasks"]}}
    for seed in args.seeds:
        for task in args.tasks:
            rows = report["tasks"][task]["runs"]
            rows[:] = sorted([r for r in rows if r["seed"] != seed] + [run_row(task, seed, Path(args.runs_dir)/f"{task}-seed{seed}", args.data_dir)],
                             key=lambda r: r["seed"])
            report["tasks"][task]["figures"] = {k: spread([r[k] for r in rows]) for k in FIGURES[task]} | {"wall_minutes": wall_minutes(rows)}
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(report, indent=1))
            print(f"{task} seed {seed}: {next(r for r in rows if r['seed'] == seed)}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
