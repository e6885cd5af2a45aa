"""Ablation of the main job's recipe over seeds, on validation only: does label smoothing, weight decay, mixup or a
cosine learning-rate schedule earn its place?

PneumoniaMNIST at 28 px, the CNN, one model per seed (the landed recipe's members: default augmentation, at most 30
epochs, early stopping on validation AUC), on 2 CPU cores. `--dataset kermany --task pathogen --size N
--max-train-images N` asks the same of a two-class Kermany task, on a seeded subset of its training images (the patient
split's seed stays 42, so every variant and seed is scored on the same validation images). Each variant changes one
setting of `Hyperparameters` from the landed defaults; all variants train with the same seeds, interleaved (seed by seed), so a slow moment of the
machine touches them alike. Every figure is the median over the seeds with its range; the calibrated validation log
loss decides (no timings: every variant trains the same network for at most the same epochs), by a rule fixed before the run: a variant replaces the landed setting only when its median is lower by
more than the landed recipe's own spread over seeds (max - min). The test split is not read.

    python bench/ablation.py --out bench/results/ablation.json
    python bench/ablation.py --dataset kermany --task pathogen --size 64 --max-train-images 1500 --epochs 12 \
        --variants landed "mixup 0.2" "mixup 1.0" --out bench/results/ablation_mixup_pathogen.json
"""
import argparse
import json
import os
import platform
import shlex
import sys
from pathlib import Path

from seeds import spread

CORES = 2
VARIANTS = {"landed": {}, "label smoothing 0.1": {"label_smoothing": 0.1}, "weight decay 1e-4 (AdamW)": {"weight_decay": 1e-4},
            "both": {"label_smoothing": 0.1, "weight_decay": 1e-4}, "cosine schedule": {"schedule": "cosine"},
            "mixup 0.2": {"mixup": 0.2}, "mixup 1.0": {"mixup": 1.0}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--epochs", type=int, help="most epochs (default: the recipe's)")
    p.add_argument("--dataset", default="pneumoniamnist", choices=("pneumoniamnist", "kermany"))
    p.add_argument("--task", default="pneumonia", choices=("pneumonia", "pathogen"), help="a two-class task")
    p.add_argument("--size", type=int, help="image size (default: the CNN's for the data set, 28 or 128)")
    p.add_argument("--max-train-images", type=int, help="a seeded subset of the training split (default: all of it)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if len(os.sched_getaffinity(0)) > CORES: os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:CORES]))
    import numpy as np
    from sklearn.metrics import log_loss
    from pneumonia_nb.data import load_splits
    from pneumonia_nb.metrics import binary_metrics
    from pneumonia_nb.recipe import Hyperparameters, Recipe, default_epochs, default_size
    from pneumonia_nb.runs import fit_and_score
    size = args.size or default_size(args.dataset, "cnn")
    splits = load_splits(args.dataset, size, seed=42, splits=("train", "val"), task=args.task)
    train, val = splits["train"], splits["val"]
    if args.max_train_images: train = train.sample(args.max_train_images, 42)
    epochs = args.epochs or default_epochs("cnn", args.dataset)
    rows = {v: [] for v in args.variants}
    for seed in range(args.seeds):
        for name in args.variants:
            recipe = Recipe(dataset=args.dataset, task=args.task, size=size, seed=seed, epochs=epochs, ensemble=1, tta=False,
                            hyper=Hyperparameters(**VARIANTS[name]))
            f = fit_and_score(train, val, recipe)
            m = binary_metrics(val.labels, f.val_prob, 0.5)
            rows[name].append({"val_log_loss": log_loss(val.labels, np.clip(f.val_prob, 1e-7, 1 - 1e-7)), "val_auc": m["roc_auc"],
                               "val_ece": m["ece"], "temperature": f.calibration.temperature, "epochs_run": len(f.history)})
            print(f"seed {seed} {name}: {rows[name][-1]}", file=sys.stderr, flush=True)
    figures = {name: {"settings": VARIANTS[name], **{k: spread([r[k] for r in rs]) for k in rs[0]}} for name, rs in rows.items()}
    landed = figures["landed"]["val_log_loss"]
    margin = landed["max"] - landed["min"]
    better = [n for n in figures if figures[n]["val_log_loss"]["median"] < landed["median"] - margin]
    chosen = min(better, key=lambda n: figures[n]["val_log_loss"]["median"]) if better else "landed"
    import tensorflow as tf, keras, pneumonia_nb
    report = {"benchmark": f"ablation of the CNN ({args.dataset} {size} px, task {args.task}) over seeds, validation only",
              "command": shlex.join(["python", "bench/ablation.py", *sys.argv[1:]]),
              "machine": {"cores": CORES, "platform": platform.platform(), "python": platform.python_version(),
                          "tensorflow": tf.__version__, "keras": keras.__version__, "pneumonia_nb": pneumonia_nb.__version__},
              "seeds": list(range(args.seeds)), "epochs": epochs, "train_images": len(train), "validation_images": len(val),
              "rule": "replace the landed setting only when the median calibrated validation log loss is lower by more than the landed recipe's range over seeds",
              "margin": margin, "chosen": chosen, "variants": figures}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps({k: report[k] for k in ("chosen", "margin")} | {n: f["val_log_loss"] for n, f in figures.items()}, indent=1))


if __name__ == "__main__":
    main()
