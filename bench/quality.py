"""Quality of the main job's recipes over seeds: chosen on validation, then the official test set scored once.

PneumoniaMNIST at 28 px, the CNN, on 2 CPU cores. Phase 1 trains single models for each augmentation setting with
seeds 0..4 and scores, on the validation split only, every variant built from them: a single model, test-time
augmentation (TTA), an ensemble of 3 consecutive seeds, and both. Each figure is a median over 3 seeds (single
models: seeds 0-2; ensembles: seeds {0,1,2}, {1,2,3}, {2,3,4}), with its range. The recipe is chosen by a rule fixed
before the run: the lowest median validation log loss (calibrated), unless a cheaper variant is within 0.002 of it.
Phase 2 scores the test split, PneumoniaMNIST's copy of the official Kermany test set, once for round 2's recipe
(single model, default augmentation, Youden's threshold) and once for the chosen recipe with each threshold rule.
Seed 0 is trained twice to check that the same seed gives the same model.

Models are trained exactly as `pneumonia-nb train` trains them (`fit_and_score`, uncalibrated members; the
ensemble, TTA and the temperature are added afterwards, as `fit_and_score(ensemble=..., tta=...)` does).

    python bench/quality.py --out bench/results/quality.json
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from seeds import spread

CORES = 2   # the machine size every figure in the README is quoted for
ENSEMBLE = 3


def calibrated(net, val_ds, val_labels):
    "`net` with a temperature fitted on validation written into its head, its validation probabilities, and the temperature."
    import numpy as np
    from pneumonia_nb.metrics import Calibration, fit_temperature
    from pneumonia_nb.training import apply_calibration, predict_logits
    logits = predict_logits(net, val_ds)
    t = fit_temperature(logits, val_labels)
    apply_calibration(net, Calibration(t))
    return net, 1 / (1 + np.exp(-logits / t)), t


def variant(members, tta, val_ds, val):
    "The model of one variant (a copy: members are left as they are), its calibrated validation figures and cost."
    import keras
    from sklearn.metrics import log_loss
    from pneumonia_nb.metrics import binary_metrics, choose_threshold
    from pneumonia_nb.ensembles import ensemble_model, with_tta
    net = ensemble_model(members) if len(members) > 1 else keras.models.clone_model(members[0])
    if len(members) == 1: net.set_weights(members[0].get_weights())
    if tta: net = with_tta(net)
    t0 = time.perf_counter()
    net, prob, t = calibrated(net, val_ds, val.labels)
    seconds = time.perf_counter() - t0
    m = binary_metrics(val.labels, prob, choose_threshold(val.labels, prob, "youden"))
    rules = {rule: choose_threshold(val.labels, prob, rule) for rule in ("youden", "sensitivity")}
    return net, {"val_log_loss": log_loss(val.labels, prob), "val_auc": m["roc_auc"], "val_ece": m["ece"], "val_brier": m["brier"],
                 "temperature": t, "val_predict_ms_per_image": 1000 * seconds / len(val.labels),
                 **{f"threshold_{r}": v for r, v in rules.items()}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=3, help="seeds per figure (trains seeds + ENSEMBLE - 1 models per augmentation)")
    p.add_argument("--augmentations", nargs="+", default=["default", "acquisition"])
    p.add_argument("--epochs", type=int, help="most epochs (default: the recipe's)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if len(os.sched_getaffinity(0)) > CORES: os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:CORES]))
    import numpy as np
    from pneumonia_nb.data import load_splits
    from pneumonia_nb.metrics import binary_metrics, choose_threshold
    from pneumonia_nb.preprocess import make_dataset
    from pneumonia_nb.recipe import Recipe, default_epochs
    from pneumonia_nb.runs import fit_and_score
    from pneumonia_nb.training import predict_logits, predict_proba
    splits = load_splits("pneumoniamnist", 28, seed=42)
    train, val, test = splits["train"], splits["val"], splits["test"]
    val_ds, test_ds = make_dataset(val, 28, "crop", 256), make_dataset(test, 28, "crop", 256)
    epochs = args.epochs or default_epochs("cnn")
    n_models = args.seeds + ENSEMBLE - 1

    def train_one(augment, seed):
        t0 = time.perf_counter()
        f = fit_and_score(train, val, Recipe(seed=seed, epochs=epochs, calibration="none", augment=augment, ensemble=1, tta=False))
        print(f"trained {augment} seed {seed}: {len(f.history)} epochs, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        return f.model, time.perf_counter() - t0, len(f.history)

    trained = {a: [train_one(a, s) for s in range(n_models)] for a in args.augmentations}
    again = train_one(args.augmentations[0], 0)[0]
    same_seed = bool(np.array_equal(predict_logits(again, val_ds), predict_logits(trained[args.augmentations[0]][0][0], val_ds)))

    variants, models = {}, {}
    for a in args.augmentations:
        nets = [m for m, _, _ in trained[a]]
        for size in (1, ENSEMBLE):
            for tta in (False, True):
                name = f"{a} augmentation, {'single model' if size == 1 else f'ensemble of {size}'}{', TTA' if tta else ''}"
                runs = [variant(nets[s:s + size], tta, val_ds, val) for s in range(args.seeds)]
                models[name] = [net for net, _ in runs]
                figures = {k: spread([r[k] for _, r in runs]) for k in runs[0][1]}
                figures["train_seconds"] = spread([sum(t for _, t, _ in trained[a][s:s + size]) for s in range(args.seeds)])
                variants[name] = {"augment": a, "ensemble": size, "tta": tta, "cost": size * (5 if tta else 1), **figures}
    best = min(variants, key=lambda v: variants[v]["val_log_loss"]["median"])
    chosen = min((v for v in variants if variants[v]["val_log_loss"]["median"] <= variants[best]["val_log_loss"]["median"] + 0.002),
                 key=lambda v: (variants[v]["cost"], variants[v]["val_log_loss"]["median"]))
    baseline = f"{args.augmentations[0]} augmentation, single model"

    def test_figures(name, rule):
        out = []
        for net in models[name]:
            val_prob, test_prob = predict_proba(net, val_ds), predict_proba(net, test_ds)
            m = binary_metrics(test.labels, test_prob, choose_threshold(val.labels, val_prob, rule))
            out.append({"accuracy": m["accuracy"], "auc": m["roc_auc"], "sensitivity": m["recall"],
                        "specificity": m["specificity"], "ece": m["ece"]})
        return {k: spread([o[k] for o in out]) for k in out[0]}

    test_report = {f"{baseline} (round 2), youden": test_figures(baseline, "youden"),
                   **{f"{chosen} (chosen), {rule}": test_figures(chosen, rule) for rule in ("youden", "sensitivity")}}
    import tensorflow as tf, keras, pneumonia_nb
    report = {
        "benchmark": "main job recipes over seeds (CNN, PneumoniaMNIST 28 px); validation chooses, test = official Kermany test set at 28 px, scored once",
        "command": "python bench/quality.py " + " ".join(sys.argv[1:]),
        "machine": {"cores": CORES, "platform": platform.platform(), "python": platform.python_version(),
                    "tensorflow": tf.__version__, "keras": keras.__version__, "pneumonia_nb": pneumonia_nb.__version__},
        "seeds_per_figure": args.seeds, "epochs": epochs,
        "rule": "lowest median validation log loss; the cheapest variant within 0.002 of it",
        "chosen": chosen, "validation": variants, "same_seed_same_model": same_seed,
        "test": test_report,
        "goals": {k: v for name, figs in test_report.items() if "(chosen), sensitivity" in name for k, v in {
            "test accuracy >= 0.96 (median)": figs["accuracy"]["median"] >= 0.96,
            "test AUC >= 0.99 (median)": figs["auc"]["median"] >= 0.99,
            "test ECE <= 0.05 after calibration (median)": figs["ece"]["median"] <= 0.05}.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps({k: report[k] for k in ("chosen", "same_seed_same_model", "test", "goals")}, indent=1))


if __name__ == "__main__":
    main()
