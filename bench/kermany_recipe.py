"""The Kermany default recipe: which image size and precision, and how many epochs fit 60 minutes on 2 CPU cores?

The CNN on the Kermany training folder (224 px JPEGs, squashed to the size tried), the landed training settings,
validation only (the patient-level split with seed 42; the test folder is not read). Sizes 96, 128 and 160 train with
the same seeds on the same seeded subset of the training split for the same most epochs, interleaved (seed by seed), so
each size sees the same images and a slow moment of the machine touches them alike. The full split at every size and
seed would take about 25 hours here; the subset keeps the comparison to about an hour, and favours smaller images
less than it would seem (fewer images, fewer chances for fine detail to matter): read it as a check, not a proof.

Precision: each size can also train in mixed bfloat16 (`--precisions float32 mixed_bfloat16`, on a CPU that computes
bfloat16 natively), interleaved the same way; the trained models are then predicted in float32, as every run is.
Results are keyed "SIZE px POLICY".

Time: each run's training images/s (median over its epochs of `epoch_seconds`, training only) and the validation split's
prediction images/s, taken from the same runs. From them, the projected wall time of the default recipe on the whole
training split (`default_epochs` epochs, each training on every training image and predicting validation), the
figure the 60-minute goal is about. Say alongside it what else ran on the machine.

    python bench/kermany_recipe.py --out bench/results/kermany_recipe.json
    python bench/kermany_recipe.py --sizes 128 --precisions float32 mixed_bfloat16 --out bench/results/precision.json
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from seeds import spread

CORES = 2
SIZES = (96, 128, 160)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--precisions", nargs="+", default=["float32"], help="Keras dtype policies to train in")
    p.add_argument("--train-images", type=int, default=1000, help="the seeded subset of the training split every run trains on")
    p.add_argument("--epochs", type=int, default=8, help="most epochs of every run")
    p.add_argument("--data-dir", help="the Kermany folders (default: $PNEUMONIA_NB_DATA)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if len(os.sched_getaffinity(0)) > CORES: os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:CORES]))
    import numpy as np
    from sklearn.metrics import log_loss
    from pneumonia_nb.metrics import binary_metrics
    from pneumonia_nb.preprocess import make_dataset
    from pneumonia_nb.recipe import Recipe, default_epochs
    from pneumonia_nb.runs import fit_and_score, training_splits
    from pneumonia_nb.training import predict_proba
    splits = {size: training_splits(Recipe(dataset="kermany", size=size), args.data_dir) for size in args.sizes}
    full_train, val = len(splits[args.sizes[0]]["train"]), splits[args.sizes[0]]["val"]
    variants = [(size, policy) for size in args.sizes for policy in args.precisions]
    rows = {v: [] for v in variants}
    for seed in range(args.seeds):
        for size, policy in variants:
            train = splits[size]["train"].sample(args.train_images, seed)
            recipe = Recipe(dataset="kermany", size=size, seed=seed, epochs=args.epochs, precision="float32" if policy == "float32" else "mixed")
            f = fit_and_score(train, splits[size]["val"], recipe)
            assert f.policy == policy, f"{policy} asked for, {f.policy} trained: this machine computes no bfloat16"
            t0 = time.perf_counter(); predict_proba(f.model, make_dataset(splits[size]["val"], size, "squash", 256))
            m = binary_metrics(val.labels, f.val_prob, 0.5)
            rows[size, policy].append({"val_log_loss": log_loss(val.labels, np.clip(f.val_prob, 1e-7, 1 - 1e-7)), "val_auc": m["roc_auc"],
                               "val_ece": m["ece"], "temperature": f.calibration.temperature, "epochs_run": len(f.history),
                               "train_images_per_s": len(train)/f.history.epoch_seconds.median(),
                               "val_images_per_s": len(val)/(time.perf_counter() - t0)})
            print(f"seed {seed} size {size} {policy}: {rows[size, policy][-1]}", file=sys.stderr, flush=True)
    epochs = default_epochs("cnn", "kermany")
    figures = {}
    for (size, policy), rs in rows.items():
        fig = {k: spread([r[k] for r in rs]) for k in rs[0]}
        epoch_s = full_train/fig["train_images_per_s"]["median"] + len(val)/fig["val_images_per_s"]["median"]
        figures[f"{size} px {policy}"] = fig | {"projected_full_epoch_minutes": epoch_s/60, "projected_default_recipe_minutes": epochs*epoch_s/60,
                               "epochs_within_55_minutes": int(55*60//epoch_s)}
    import tensorflow as tf, keras, pneumonia_nb
    report = {"benchmark": "Kermany CNN image size and precision over seeds on a training subset, validation only; projected time of the full default recipe",
              "command": "python bench/kermany_recipe.py " + " ".join(sys.argv[1:]),
              "machine": {"cores": CORES, "platform": platform.platform(), "python": platform.python_version(),
                          "tensorflow": tf.__version__, "keras": keras.__version__, "pneumonia_nb": pneumonia_nb.__version__},
              "seeds": list(range(args.seeds)), "train_images": args.train_images, "epochs": args.epochs,
              "full_training_images": full_train, "validation_images": len(val), "default_epochs": epochs,
              "variants": figures}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps({k: {f: v[f] for f in ("val_log_loss", "val_auc", "projected_default_recipe_minutes")} for k, v in figures.items()}, indent=1))


if __name__ == "__main__":
    main()
