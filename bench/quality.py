"""Quality of the main job over seeds: test accuracy, AUC and calibration error before and after temperature scaling.

Trains `pneumonia-nb train` (the CNN on PneumoniaMNIST, the default recipe) once per seed with `train_run`, exactly as
the command does, and scores the test split, PneumoniaMNIST's copy of the official Kermany test set, once per run at
the threshold chosen on validation. Calibration is measured side by side on the same predictions: the uncalibrated
probabilities are the model's logits times the run's temperature. The first seed is trained twice to check that the
same seed gives the same metrics.

    python bench/quality.py --out bench/results/quality.json
"""
import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

CORES = 2   # the machine size every figure in the README is quoted for


def spread(values: list[float]) -> dict:
    "Median, min and max of a figure over seeds."
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def one_run(seed: int, epochs: int | None, data_dir) -> dict:
    "Train the main job with `seed` and score its test split, calibrated and not."
    import numpy as np
    from pneumonia_nb.metrics import binary_metrics, expected_calibration_error
    from pneumonia_nb.preprocess import make_dataset
    from pneumonia_nb.runs import run_splits, train_run
    from pneumonia_nb.training import predict_logits
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = train_run(Path(tmp) / "run", seed=seed, epochs=epochs, data_dir=data_dir)
        seconds = time.perf_counter() - t0
    test = run_splits(run, splits=("test",))["test"]
    logits = predict_logits(run.model, make_dataset(test, run.size, run.resize, 256))
    calibrated, raw = 1 / (1 + np.exp(-logits)), 1 / (1 + np.exp(-logits * run.config["temperature"]))
    m = binary_metrics(test.labels, calibrated, run.threshold)
    return {"seed": seed, "seconds": round(seconds, 1), "epochs_run": run.config["epochs_run"],
            "temperature": run.config["temperature"], "threshold": run.threshold,
            "val_auc": run.metrics["val"]["roc_auc"], "test_accuracy": m["accuracy"], "test_auc": m["roc_auc"],
            "test_sensitivity": m["recall"], "test_specificity": m["specificity"],
            "test_ece_calibrated": m["ece"], "test_ece_uncalibrated": expected_calibration_error(test.labels, raw),
            "metrics_json": run.metrics}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, help="most epochs (default: the recipe's)")
    p.add_argument("--data-dir")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if len(os.sched_getaffinity(0)) > CORES: os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:CORES]))
    runs = []
    for seed in args.seeds:
        runs.append(one_run(seed, args.epochs, args.data_dir))
        print(json.dumps({k: v for k, v in runs[-1].items() if k != "metrics_json"}), file=sys.stderr, flush=True)
    again = one_run(args.seeds[0], args.epochs, args.data_dir)
    import tensorflow as tf, keras, pneumonia_nb
    figures = ["test_accuracy", "test_auc", "test_sensitivity", "test_specificity", "test_ece_uncalibrated",
               "test_ece_calibrated", "temperature", "threshold", "val_auc", "seconds"]
    report = {
        "benchmark": "main job quality over seeds (CNN, PneumoniaMNIST 28 px, test = official Kermany test set at 28 px)",
        "command": "python bench/quality.py " + " ".join(sys.argv[1:]),
        "machine": {"cores": CORES, "platform": platform.platform(), "python": platform.python_version(),
                    "tensorflow": tf.__version__, "keras": keras.__version__, "pneumonia_nb": pneumonia_nb.__version__},
        "seeds": args.seeds,
        "summary": {f: spread([r[f] for r in runs]) for f in figures},
        "same_seed_same_metrics": again["metrics_json"] == runs[0]["metrics_json"],
        "goals": {"test accuracy >= 0.96 (median)": statistics.median(r["test_accuracy"] for r in runs) >= 0.96,
                  "test AUC >= 0.99 (median)": statistics.median(r["test_auc"] for r in runs) >= 0.99,
                  "test ECE <= 0.05 after calibration (median)": statistics.median(r["test_ece_calibrated"] for r in runs) <= 0.05},
        "runs": [{k: v for k, v in r.items() if k != "metrics_json"} for r in runs],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps({k: report[k] for k in ("summary", "same_seed_same_metrics", "goals")}, indent=1))


if __name__ == "__main__":
    main()
