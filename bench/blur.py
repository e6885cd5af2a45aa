"""Blur and false pneumonia (issue 31): how the probabilities of normal validation X-rays move as the image softens,
and how much of that the run's gate refuses.

Every validation X-ray of each run is blurred by a Gaussian of sigma 0.5% to 4% of its width (as a softer detector, a
portable unit, motion or a downscaled export would give it; the shift benchmark's `blurred`) and predicted. Per run
and blur: the median probability of pneumonia of the normal images, the share of them called PNEUMONIA at the run's
threshold (false pneumonia), the sensitivity, the share of all images the sharpness check and the out-of-distribution
score refuse, and false pneumonia among the images the gate lets through. Medians and ranges over each recipe's runs.

The sharpness cut-off is the one `train` stores now (`fit_sharpness_check`: the 0.5th percentile of the sharpness of
the validation images blurred by the strongest blur that changes at most 1% of the run's answers), computed here from
each run's model and validation images, so that a run saved under an earlier rule is measured as if trained today;
each row also gives the cut-off the run stored (`stored_sharpness_cutoff`, null for a run saved before the check).

    python bench/blur.py --runs RUNS/main-default-{42,43,44} RUNS/main-acquisition-{42,43,44} --out bench/results/blur.json
"""
import argparse
import json
import os
import platform
import shlex
import sys
from pathlib import Path

from seeds import spread
from shift import CORES

LEVELS = (0, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04)   # sigma as a share of the width
MEASURES = ("normal_median_probability", "false_pneumonia", "sensitivity", "refused_blurred", "refused_ood",
            "false_pneumonia_accepted")


def bench_run(run_dir: str, data_dir: str|None) -> list[dict]:
    "One row per blur level of one run."
    import numpy as np
    from pneumonia_nb.ood import blurred, fit_sharpness_check, image_sharpness, ood_scores, predict_with_features
    from pneumonia_nb.preprocess import dataset_images, make_dataset
    from pneumonia_nb.run_folder import load_run
    from pneumonia_nb.runs import run_splits
    run = load_run(run_dir)
    val = run_splits(run, None, data_dir, ("val",))["val"]
    x, y = dataset_images(make_dataset(val, run.size, run.resize, 256)), val.labels
    check = fit_sharpness_check(run.model, x, run.threshold, float(run.ood["percentile"]))
    least, stored = float(check["sharpness_cutoff"]), run.ood.get("sharpness_cutoff")
    normal, rows = y == 0, []
    for level in LEVELS:
        soft = blurred(x, level)
        p, features = predict_with_features(run.model, soft)
        called, too_soft = p >= run.threshold, image_sharpness(soft) < least
        far = ood_scores(run.ood, features) > float(run.ood["cutoff"])
        judged = normal & ~too_soft & ~far
        rows.append({"run": Path(run_dir).name, "augment": run.recipe.augment, "blur": level,
                     "tolerated_blur": float(check["sharpness_blur"]), "sharpness_cutoff": least,
                     "stored_sharpness_cutoff": None if stored is None else float(stored),
                     "normal_median_probability": float(np.median(p[normal])), "false_pneumonia": float(called[normal].mean()),
                     "sensitivity": float(called[y == 1].mean()), "refused_blurred": float(too_soft.mean()),
                     "refused_ood": float(far.mean()),
                     "false_pneumonia_accepted": float(called[judged].mean()) if judged.any() else None})
        print(f"{run_dir} blur {level}: {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def summary(rows: list[dict]) -> dict:
    "Per recipe and blur level: each measure's median and range over the recipe's runs."
    def over(cells):
        return {m: spread([c[m] for c in cells if c[m] is not None]) if any(c[m] is not None for c in cells) else None
                for m in MEASURES}
    return {augment: {str(level): over([r for r in rows if r["augment"] == augment and r["blur"] == level]) for level in LEVELS}
            for augment in sorted({r["augment"] for r in rows})}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", nargs="+", required=True, help="run directories (`pneumonia-nb train --seed S --augment A`)")
    p.add_argument("--data-dir", help="the runs' data (default: $PNEUMONIA_NB_DATA)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if len(os.sched_getaffinity(0)) > CORES: os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:CORES]))
    rows = [row for run in args.runs for row in bench_run(run, args.data_dir)]
    import keras
    import tensorflow as tf
    import pneumonia_nb
    report = {"benchmark": "blur and false pneumonia on validation: what the gate refuses, what the model says of the rest",
              "command": shlex.join(["python", "bench/blur.py", *["RUNS/" + Path(a).name if Path(a).parent == Path(args.runs[0]).parent
                                                                 else a for a in sys.argv[1:]]]),
              "machine": {"cores": CORES, "platform": platform.platform(), "python": platform.python_version(),
                          "tensorflow": tf.__version__, "keras": keras.__version__, "pneumonia_nb": pneumonia_nb.__version__},
              "levels": LEVELS, "summary": summary(rows), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps({a: {level: {m: v[m]["median"] if v[m] else None for m in MEASURES} for level, v in s.items()}
                      for a, s in report["summary"].items()}, indent=1))


if __name__ == "__main__":
    main()
