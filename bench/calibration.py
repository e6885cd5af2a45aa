"""Calibration on held-out validation: one temperature (what `train` fits) against a scale and an offset (what
`adapt` fits, bias-corrected calibration after Alexandari et al. 2020), for two-class runs; and a rule that chooses
between them from the fitting images alone (`chosen`: whichever has the lower log loss when fitted on one half of
them and scored on the other, both ways round), as `train` could.

Each run's validation images are predicted once; the run's own temperature is undone, so that every method starts
from the model's raw logits. The images are then split in two random halves (`--splits` seeds); each method is fitted
on one half and scored on the other, and the other way round: expected calibration error (10 bins) and log loss.
Per run: medians over the halves. Per recipe (data set and augmentation): medians and ranges over its runs.

    python bench/calibration.py --runs RUNS/kermany-{42,43,44} RUNS/kermany-acquisition-{42,43,44} \
        RUNS/main-default-{42,43,44} --out bench/results/calibration.json
"""
import argparse
import json
import os
import platform
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace

from seeds import spread
from shift import CORES

FITTED = ("temperature", "scale_offset")
METHODS = ("none", *FITTED, "chosen")


def calibrated(method: str, fit_logits, fit_labels, logits):
    "Probabilities of pneumonia for `logits`, by `method` fitted on (`fit_logits`, `fit_labels`)."
    import numpy as np
    from scipy.special import expit
    from pneumonia_nb.metrics import fit_temperature
    from pneumonia_nb.shift import bias_corrected_calibration
    if method == "none": return expit(logits)
    if method == "temperature": return expit(logits/fit_temperature(fit_logits, fit_labels))
    two = lambda z: np.stack([expit(-z), expit(z)], axis=1)   # the `(N, 2)` probabilities `adapt` calibrates
    scale, offsets = bias_corrected_calibration(SimpleNamespace(probabilities=two(fit_logits), labels=fit_labels))
    return expit(scale*logits + offsets[1])


def choice(logits, labels) -> str:
    "The one of `FITTED` with the lower log loss over two halves of (`logits`, `labels`), each fitted on the other."
    import numpy as np
    from pneumonia_nb.metrics import probability_log_loss
    order = np.random.default_rng(0).permutation(len(labels))
    halves = ((order[:len(order)//2], order[len(order)//2:]), (order[len(order)//2:], order[:len(order)//2]))
    loss = {m: np.mean([probability_log_loss(labels[b], calibrated(m, logits[a], labels[a], logits[b])) for a, b in halves])
            for m in FITTED}
    return min(FITTED, key=loss.get)


def bench_run(run_dir: str, data_dir: str|None, splits: int) -> dict:
    "One run: each method's held-out ECE and log loss, medians over the halves."
    import numpy as np
    from scipy.special import logit
    from pneumonia_nb.metrics import expected_calibration_error, probability_log_loss
    from pneumonia_nb.preprocess import dataset_images, make_dataset
    from pneumonia_nb.run_folder import load_run
    from pneumonia_nb.runs import run_splits
    run = load_run(run_dir)
    if len(run.class_names) != 2: raise SystemExit(f"{run_dir}: a two-class run is needed, not {run.class_names}")
    val = run_splits(run, None, data_dir, ("val",))["val"]
    p = run.model.predict(dataset_images(make_dataset(val, run.size, run.resize, 256)), batch_size=256, verbose=0)
    y, raw = np.asarray(val.labels), logit(np.clip(p.ravel().astype(np.float64), 1e-7, 1 - 1e-7))*run.config.get("temperature", 1.0)
    scores, offsets_chosen = {m: {"ece": [], "log_loss": []} for m in METHODS}, []
    for seed in range(splits):
        order = np.random.default_rng(seed).permutation(len(y))
        for fit, score in ((order[:len(y)//2], order[len(y)//2:]), (order[len(y)//2:], order[:len(y)//2])):
            picked = choice(raw[fit], y[fit])   # what "chosen" calibrates with on this half
            offsets_chosen.append(picked == "scale_offset")
            for m in METHODS:
                q = calibrated(picked if m == "chosen" else m, raw[fit], y[fit], raw[score])
                scores[m]["ece"].append(expected_calibration_error(y[score], q))
                scores[m]["log_loss"].append(probability_log_loss(y[score], q))
    row = {"run": Path(run_dir).name, "recipe": f"{run.recipe.dataset}, {run.recipe.augment}", "images": len(y),
           "offset_chosen": float(np.mean(offsets_chosen)),
           **{m: {k: float(np.median(v)) for k, v in s.items()} for m, s in scores.items()}}
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def summary(rows: list[dict]) -> dict:
    "Per recipe and method: each measure's median and range over the recipe's runs."
    return {recipe: {m: {k: spread([r[m][k] for r in rows if r["recipe"] == recipe]) for k in ("ece", "log_loss")}
                     for m in METHODS}
            for recipe in sorted({r["recipe"] for r in rows})}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", nargs="+", required=True, help="two-class run directories")
    p.add_argument("--data-dir", help="the runs' data (default: $PNEUMONIA_NB_DATA)")
    p.add_argument("--splits", type=int, default=10, help="random halvings of each run's validation images")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if len(os.sched_getaffinity(0)) > CORES: os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:CORES]))
    rows = [bench_run(run, args.data_dir, args.splits) for run in args.runs]
    import keras
    import tensorflow as tf
    import pneumonia_nb
    report = {"benchmark": "calibration fitted on half of validation, scored on the other half: temperature or scale and offset",
              "command": shlex.join(["python", "bench/calibration.py", *["RUNS/" + Path(a).name if Path(a).parent == Path(args.runs[0]).parent
                                                                        else a for a in sys.argv[1:]]]),
              "machine": {"cores": CORES, "platform": platform.platform(), "python": platform.python_version(),
                          "tensorflow": tf.__version__, "keras": keras.__version__, "pneumonia_nb": pneumonia_nb.__version__},
              "splits": args.splits, "summary": summary(rows), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps({r: {m: {k: v[k]["median"] for k in v} for m, v in s.items()} for r, s in report["summary"].items()}, indent=1))


if __name__ == "__main__":
    main()
