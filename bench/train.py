"""Training benchmark: quality and speed of real training runs on this machine.

For each configuration it runs `pneumonia_nb.runs.train_run` exactly as `pneumonia-nb train` does, then records
the validation and test metrics (threshold from validation), training images per second, and the FLOP/s the CNN
achieves against a float32 matrix-multiply peak measured in the same process. It also times, separately, the
augmented input pipeline alone and the training step alone, to show which one bounds training.

    python bench/train.py --out bench/results/train.json            # PneumoniaMNIST main job + Kermany 128 px
    python bench/train.py --only pneumoniamnist --out /tmp/train.json

Needs the data: --data-dir or $PNEUMONIA_NB_DATA (see pneumonia_nb.data.data_home).
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

CONFIGS = {   # name: the Recipe options (`pneumonia_nb.recipe`)
    "pneumoniamnist": dict(dataset="pneumoniamnist", model="cnn"),          # the main job, as `pneumonia-nb train --out ...`
    "kermany": dict(dataset="kermany", model="cnn", size=128, epochs=12, imbalance="class_weight"),
}


def matmul_peak_flops(n: int = 2048, repeats: int = 7) -> float:
    "Median float32 FLOP/s of an n x n matrix product (TensorFlow, all cores)."
    import tensorflow as tf
    a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
    tf.matmul(a, b).numpy()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter(); tf.matmul(a, b).numpy(); times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times)


def images_per_second(step, batch: int, steps: int) -> float:
    "Images per second of `step()` after two warm-up calls, median over `steps` timed calls."
    step(); step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
    return batch / statistics.median(times)


def component_speeds(run, data_dir, batch: int) -> dict:
    "Images/s of the augmented training pipeline alone and of the training step alone, same size and batch."
    import numpy as np
    from pneumonia_nb.data import load_splits
    from pneumonia_nb.preprocess import make_dataset
    from pneumonia_nb.runs import build_model
    from pneumonia_nb.training import compile_model
    cfg = run.config
    train = load_splits(cfg["dataset"], cfg["size"], data_dir, seed=cfg["seed"], splits=("train",))["train"]
    ds = make_dataset(train, cfg["size"], cfg["resize"], batch, training=True, seed=cfg["seed"])
    for _ in ds: pass                                   # fill the cache: later epochs are what training sees
    it = iter(ds.repeat())
    pipeline = images_per_second(lambda: next(it), batch, 30)
    model = compile_model(build_model(cfg["model"], cfg["size"]))
    x, y = next(it)
    step = images_per_second(lambda: model.train_on_batch(x, y), batch, 15)
    return {"pipeline_images_per_s": pipeline, "train_step_images_per_s": step,
            "pipeline_to_step_ratio": pipeline / step}


def bench(name: str, args, peak: float) -> dict:
    from pneumonia_nb.recipe import Recipe
    from pneumonia_nb.runs import train_run
    from pneumonia_nb.cnn import forward_flops
    kwargs = CONFIGS[name]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = train_run(Path(tmp) / "run", Recipe(**kwargs), data_dir=args.data_dir, verbose=2)
        wall = time.perf_counter() - t0
    h, cfg = run.history, run.config
    epoch_s = statistics.median(h.epoch_seconds)
    fit_ips = cfg["train_images"] / epoch_s           # epoch time includes the validation pass: a lower bound
    flops_per_image = 3 * forward_flops(run.model)    # forward + backward
    speeds = component_speeds(run, args.data_dir, cfg["batch_size"])
    return {
        "recipe_options": {k: str(v) for k, v in kwargs.items()}, "data_dir": "DATA" if args.data_dir else None,
        "command": "pneumonia-nb train " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in kwargs.items()
                                                      if v is not None) + " --out RUN_DIR",
        "wall_seconds": wall, "epochs_run": cfg["epochs_run"], "train_images": cfg["train_images"],
        "threshold": cfg["threshold"], "threshold_rule": cfg["threshold_rule"],
        "val": run.metrics["val"], "test": run.metrics["test"], "test_note": run.metrics.get("test_note"),
        "median_epoch_seconds": epoch_s, "fit_images_per_s": fit_ips,
        "train_flops_per_image": flops_per_image,
        "fit_flops_per_s": flops_per_image * fit_ips, "fit_fraction_of_matmul_peak": flops_per_image * fit_ips / peak,
        "train_step_flops_per_s": flops_per_image * speeds["train_step_images_per_s"],
        "train_step_fraction_of_matmul_peak": flops_per_image * speeds["train_step_images_per_s"] / peak,
        **speeds,
        "bottleneck": "training step" if speeds["pipeline_to_step_ratio"] > 1 else "input pipeline",
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir")
    p.add_argument("--only", choices=sorted(CONFIGS), action="append", help="run only these configurations")
    p.add_argument("--out", default="bench/results/train.json")
    args = p.parse_args()
    import tensorflow as tf, keras, pneumonia_nb
    from pneumonia_nb.devices import setup_device
    device = setup_device()
    peak = matmul_peak_flops()
    print(f"matmul peak: {peak / 1e9:.0f} GFLOP/s", file=sys.stderr)
    results = {name: bench(name, args, peak) for name in (args.only or CONFIGS)}
    report = {"benchmark": "training runs on real data", "command": "python bench/train.py " + " ".join(sys.argv[1:]),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "device": device,
                          "python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
                          "pneumonia_nb": pneumonia_nb.__version__},
              "matmul_peak_flops_per_s": peak, "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    for name, r in results.items():
        t = r["test"] or {}
        print(f"{name}: {r['wall_seconds']:.0f} s, {r['epochs_run']} epochs; val AUC {r['val']['roc_auc']:.4f}; "
              f"test AUC {t.get('roc_auc', float('nan')):.4f} ACC {t.get('accuracy', float('nan')):.4f}; "
              f"fit {r['fit_images_per_s']:.0f} img/s ({100 * r['fit_fraction_of_matmul_peak']:.0f}% of matmul peak); "
              f"pipeline {r['pipeline_images_per_s']:.0f} img/s vs step {r['train_step_images_per_s']:.0f} img/s")


if __name__ == "__main__":
    main()
