"""Test-time augmentation for the Kermany default recipe: the same trained runs scored without and with TTA, validation only.

`bench/quality.py` chose TTA for the main job (PneumoniaMNIST) on validation; the Kermany recipe predicts one view.
This scores the Kermany default runs that `bench/tasks.py --tasks pneumonia` trained (one per seed, each with its own
patient split) on their validation images, once as saved and once with TTA added (`quality.variant`, `with_tta`), each with a
temperature fitted on those validation images (as `fit_and_score` fits it). The rule, fixed before the run: TTA
becomes the recipe's default only if it lowers the median calibrated validation log loss by more than the range of
the runs without it. The test folder is not read.

    python bench/kermany_tta.py --runs RUNS/pneumonia-seed0 RUNS/pneumonia-seed1 RUNS/pneumonia-seed2 --out bench/results/kermany_tta.json
"""
import argparse
import json
import os
import platform
import shlex
import sys
from pathlib import Path

from quality import CORES, variant
from seeds import spread


def run_figures(run_dir: str, data_dir: str | None) -> dict:
    "One run's calibrated validation figures without and with TTA, on its own patient split."
    from pneumonia_nb.preprocess import make_dataset
    from pneumonia_nb.runs import run_splits
    from pneumonia_nb.run_folder import load_run
    run = load_run(run_dir)
    val = run_splits(run, data_dir=data_dir, splits=("val",))["val"]
    val_ds = make_dataset(val, run.size, run.resize, 256)
    rows = {}
    for name, tta in (("one view", False), ("tta", True)):
        _, rows[name] = variant([run.model], tta, val_ds, val)
        print(f"{run_dir} {name}: {rows[name]}", file=sys.stderr, flush=True)
    return {"run": Path(run_dir).name, "seed": run.seed, "validation_images": len(val.labels), **rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", nargs="+", required=True, help="Kermany default run directories, one per seed")
    p.add_argument("--data-dir", help="the Kermany folders (default: $PNEUMONIA_NB_DATA)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if len(os.sched_getaffinity(0)) > CORES: os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:CORES]))
    import tensorflow as tf, keras, pneumonia_nb
    runs = [run_figures(r, args.data_dir) for r in args.runs]
    variants = {v: {k: spread([r[v][k] for r in runs]) for k in runs[0][v]} for v in ("one view", "tta")}
    landed = variants["one view"]["val_log_loss"]
    report = {"benchmark": "TTA on the Kermany default recipe's runs (CNN, 128 px), validation only, temperature fitted on validation",
              "command": "python bench/kermany_tta.py " + shlex.join(sys.argv[1:]).replace(os.path.commonpath(args.runs), "RUNS"),
              "machine": {"cores": CORES, "platform": platform.platform(), "python": platform.python_version(),
                          "tensorflow": tf.__version__, "keras": keras.__version__, "pneumonia_nb": pneumonia_nb.__version__},
              "rule": "TTA by default only if it lowers the median calibrated validation log loss by more than the one-view range",
              "runs": runs, "variants": variants,
              "tta_by_default": landed["median"] - variants["tta"]["val_log_loss"]["median"] > landed["max"] - landed["min"]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps({k: report[k] for k in ("variants", "tta_by_default")}, indent=1))


if __name__ == "__main__":
    main()
