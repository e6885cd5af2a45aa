"""Calibration on held-out validation: one temperature against a scale and an offset (bias-corrected calibration
after Alexandari et al. 2020), the two `Recipe.calibration` methods, for two-class runs; and a rule that chooses
between them from the fitting images alone (`chosen`: whichever has the lower log loss when fitted on one half of
them and scored on the other, both ways round), as `train` could.

The rule that sets a recipe's default (`default_calibration`), fixed after the first three recipes were measured
(Kermany with and without acquisition augmentation, the main job) and before the main job with acquisition
augmentation was: `offset` when it lowers the held-out log loss on every run of the recipe, and its median by at
least 0.005; else `temperature`. Each recipe's verdict is in the summary.

Each run's validation images are predicted once; the run's own calibration is undone, so that every method starts
from the model's raw logits. The images are then split in two random halves (`--splits` seeds); each method is fitted
on one half and scored on the other, and the other way round: expected calibration error (10 bins) and log loss.
Per run: medians over the halves. Per recipe (data set and augmentation): medians and ranges over its runs.

    python bench/calibration.py --runs RUNS/kermany-{42,43,44} RUNS/kermany-acquisition-{42,43,44} \
        RUNS/main-default-{42,43,44} RUNS/main-acquisition-{42,43,44} --out bench/results/calibration.json

RUNS/NAME-S are `pneumonia-nb train --seed S` runs: kermany `--dataset kermany --augment default`, kermany-acquisition
`--dataset kermany` (then the default, calibrated by a temperature), main-default the main job, main-acquisition
`--augment acquisition`.
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

FITTED = ("temperature", "offset")
MARGIN = 0.005   # the least median log loss the offset must win by to be a recipe's default
METHODS = ("none", *FITTED, "chosen")


def calibrated(method: str, fit_logits, fit_labels, logits):
    "Probabilities of pneumonia for `logits`, by `method` fitted on (`fit_logits`, `fit_labels`)."
    from scipy.special import expit
    from pneumonia_nb.metrics import calibrated_logits, fit_calibration
    return expit(calibrated_logits(logits, fit_calibration(fit_logits, fit_labels, method)))


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
    temperature, offsets = run.calibration
    y = np.asarray(val.labels)
    raw = (logit(np.clip(p.ravel().astype(np.float64), 1e-7, 1 - 1e-7)) - (offsets[1] - offsets[0]))*temperature
    scores, offsets_chosen = {m: {"ece": [], "log_loss": []} for m in METHODS}, []
    for seed in range(splits):
        order = np.random.default_rng(seed).permutation(len(y))
        for fit, score in ((order[:len(y)//2], order[len(y)//2:]), (order[len(y)//2:], order[:len(y)//2])):
            picked = choice(raw[fit], y[fit])   # what "chosen" calibrates with on this half
            offsets_chosen.append(picked == "offset")
            for m in METHODS:
                q = calibrated(picked if m == "chosen" else m, raw[fit], y[fit], raw[score])
                scores[m]["ece"].append(expected_calibration_error(y[score], q))
                scores[m]["log_loss"].append(probability_log_loss(y[score], q))
    row = {"run": Path(run_dir).name, "recipe": f"{run.recipe.dataset}, {run.recipe.augment}", "images": len(y),
           "offset_chosen": float(np.mean(offsets_chosen)),
           **{m: {k: float(np.median(v)) for k, v in s.items()} for m, s in scores.items()}}
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def verdict(rows: list[dict]) -> str:
    "The rule's answer for one recipe's runs: offset if it lowers every run's log loss, and the median by `MARGIN`."
    import numpy as np
    gains = [r["temperature"]["log_loss"] - r["offset"]["log_loss"] for r in rows]
    return "offset" if min(gains) > 0 and np.median(gains) >= MARGIN else "temperature"


def summary(rows: list[dict]) -> dict:
    "Per recipe and method: each measure's median and range over the recipe's runs, and the rule's default."
    by = {recipe: [r for r in rows if r["recipe"] == recipe] for recipe in sorted({r["recipe"] for r in rows})}
    return {recipe: {m: {k: spread([r[m][k] for r in runs]) for k in ("ece", "log_loss")} for m in METHODS}
                    | {"default": verdict(runs)}
            for recipe, runs in by.items()}


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
              "rule": "offset by default where it lowers the held-out log loss on every run of the recipe, and its "
                      f"median by at least {MARGIN}; else temperature",
              "command": shlex.join(["python", "bench/calibration.py", *["RUNS/" + Path(a).name if Path(a).parent == Path(args.runs[0]).parent
                                                                        else a for a in sys.argv[1:]]]),
              "machine": {"cores": CORES, "platform": platform.platform(), "python": platform.python_version(),
                          "tensorflow": tf.__version__, "keras": keras.__version__, "pneumonia_nb": pneumonia_nb.__version__},
              "splits": args.splits, "summary": summary(rows), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps({r: {m: v if m == "default" else {k: v[k]["median"] for k in v} for m, v in s.items()}
                      for r, s in report["summary"].items()}, indent=1))


if __name__ == "__main__":
    main()
