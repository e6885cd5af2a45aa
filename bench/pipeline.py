"""Input pipeline benchmark: pneumonia_nb's `make_dataset` against `keras.utils.image_dataset_from_directory`.

Both read the same real Kermany training images, decode them to one gray channel at the same size and batch
them the same way. Each measurement runs in a fresh process (a cold first epoch, its own peak memory), the two
pipelines take turns, and the files are read once beforehand so that both measure decoding, not the disk.

    python bench/pipeline.py --out bench/results/pipeline.json

Needs the Kermany images: --data-dir, or $PNEUMONIA_NB_DATA (see pneumonia_nb.data.data_home).
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def rss_mb() -> float:
    "Peak resident memory of this process so far, MB."
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def epoch_seconds(ds) -> tuple[float, int]:
    "Seconds to pull every batch of `ds` once, and how many images it gave."
    t0, n = time.perf_counter(), 0
    for x, _ in ds: n += int(x.shape[0])
    return time.perf_counter() - t0, n


def worker(pipeline: str, root: str, size: int, batch: int, epochs: int) -> dict:
    "Build one pipeline in this process and time its epochs."
    import tensorflow as tf
    import keras
    from pneumonia_nb.data import Split, scan_kermany
    from pneumonia_nb.preprocess import Augmentation, make_dataset
    base = rss_mb()
    t0 = time.perf_counter()
    if pipeline.startswith("pneumonia_nb") or pipeline == "parallel_augmentation":
        df = scan_kermany(root, check="none")
        df = df[df.split == "train"]
        parallel = pipeline == "parallel_augmentation"
        ds = make_dataset(Split.from_table(df), size=size, batch_size=batch, cache=pipeline != "pneumonia_nb_uncached",
                          training=pipeline == "pneumonia_nb_train" or parallel, augment=None if parallel else Augmentation(), seed=0)
        if parallel:   # the reference: round 1's Keras layers mapped over batches in parallel (fast, but not repeatable)
            aug = keras.Sequential([keras.layers.RandomRotation(10 / 360, fill_mode="constant", seed=0),
                                    keras.layers.RandomTranslation(0.05, 0.05, fill_mode="constant", seed=0),
                                    keras.layers.RandomZoom(0.1, 0.1, fill_mode="constant", seed=0),
                                    keras.layers.RandomContrast(0.1, value_range=(0, 255), seed=0),
                                    keras.layers.RandomBrightness(0.05, value_range=(0, 255), seed=0)])
            ds = ds.map(lambda x, y: (aug(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = keras.utils.image_dataset_from_directory(
            Path(root) / "train", labels="inferred", label_mode="binary", color_mode="grayscale",
            image_size=(size, size), batch_size=batch, shuffle=False, verbose=False)
        if pipeline == "keras_cached": ds = ds.cache().prefetch(tf.data.AUTOTUNE)
        else: ds = ds.prefetch(tf.data.AUTOTUNE)
    setup = time.perf_counter() - t0
    times = []
    for _ in range(epochs):
        s, n = epoch_seconds(ds)
        times.append(s)
    return {"setup_s": setup, "epoch_s": times, "images": n, "base_rss_mb": base, "peak_rss_mb": rss_mb()}


def run_worker(pipeline, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", pipeline, "--data-dir", str(args.root), "--size", str(args.size),
           "--batch", str(args.batch), "--epochs", str(args.epochs)]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if out.returncode != 0: raise SystemExit(f"{pipeline} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarise(runs: list[dict]) -> dict:
    "Medians over repeated runs of one pipeline."
    first = [r["epoch_s"][0] for r in runs]
    later = [s for r in runs for s in r["epoch_s"][1:]]
    n = runs[0]["images"]
    return {"images": n, "first_epoch_s": statistics.median(first), "first_epoch_images_per_s": n / statistics.median(first),
            "later_epoch_s": statistics.median(later), "later_epoch_images_per_s": n / statistics.median(later),
            "setup_s": statistics.median(r["setup_s"] for r in runs),
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
            "pipeline_rss_mb": statistics.median(r["peak_rss_mb"] - r["base_rss_mb"] for r in runs),
            "runs": runs}


def comparisons(res: dict) -> dict:
    "The ratios and goals that the measured pipelines allow."
    out = {"ratios": {}, "goals": {}}
    if {"pneumonia_nb", "keras_cached", "keras_uncached"} <= set(res):
        ours, cached, uncached = res["pneumonia_nb"], res["keras_cached"], res["keras_uncached"]
        out["ratios"].update(first_epoch_speedup_vs_keras=cached["first_epoch_s"] / ours["first_epoch_s"],
                             cached_epoch_speedup_vs_keras_uncached_epoch=uncached["later_epoch_s"] / ours["later_epoch_s"],
                             cached_epoch_speedup_vs_keras_cached_epoch=cached["later_epoch_s"] / ours["later_epoch_s"],
                             pipeline_memory_vs_keras_cached=ours["pipeline_rss_mb"] / cached["pipeline_rss_mb"])
        out["goals"].update({"first epoch at least as fast as image_dataset_from_directory": ours["first_epoch_s"] <= cached["first_epoch_s"],
                             "cached epochs at least 5x faster than its uncached epoch": uncached["later_epoch_s"] >= 5 * ours["later_epoch_s"]})
    if {"pneumonia_nb_train", "parallel_augmentation"} <= set(res):
        seq, par = res["pneumonia_nb_train"], res["parallel_augmentation"]
        out["ratios"]["stateless_over_keras_layers_parallel_later_epoch"] = seq["later_epoch_s"] / par["later_epoch_s"]
        out["goals"]["repeatable augmentation at most 10% slower than parallel"] = seq["later_epoch_s"] <= 1.1 * par["later_epoch_s"]
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", help="a Kermany folder or the data folder that holds one")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--epochs", type=int, default=3, help="epochs per run: the first, then cached ones")
    p.add_argument("--repeats", type=int, default=3, help="fresh processes per pipeline")
    p.add_argument("--pipelines", nargs="+", default=["pneumonia_nb", "keras_cached", "keras_uncached", "pneumonia_nb_train"],
                   help="which pipelines; parallel_augmentation is round 1's Keras augmentation layers mapped in parallel (not repeatable)")
    p.add_argument("--out", default="bench/results/pipeline.json")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    from pneumonia_nb.data import find_kermany_root, kermany_dir
    args.root = find_kermany_root(args.data_dir) if args.data_dir else kermany_dir()
    if args.worker:
        print(json.dumps(worker(args.worker, str(args.root), args.size, args.batch, args.epochs)))
        return
    files = sorted((args.root / "train").rglob("*.jp*g"))
    for f in files: f.read_bytes()   # the page cache holds every file before any pipeline runs
    pipelines = args.pipelines
    runs = {name: [] for name in pipelines}
    for rep in range(args.repeats):
        for name in pipelines:
            runs[name].append(run_worker(name, args))
            print(f"repeat {rep + 1}/{args.repeats} {name}: epochs {[round(s, 2) for s in runs[name][-1]['epoch_s']]} s",
                  file=sys.stderr)
    res = {name: summarise(r) for name, r in runs.items()}
    import tensorflow as tf, keras, pneumonia_nb
    report = {
        "benchmark": "input pipeline, real Kermany training images",
        "command": "python bench/pipeline.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "tensorflow": tf.__version__, "keras": keras.__version__, "pneumonia_nb": pneumonia_nb.__version__},
        "config": {"images": next(iter(res.values()))["images"], "size": args.size, "batch": args.batch, "channels": 1,
                   "epochs_per_run": args.epochs, "repeats": args.repeats, "pipelines": pipelines},
        "results": res, **comparisons(res)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps({k: report[k] for k in ("config", "ratios", "goals")}, indent=1))


if __name__ == "__main__":
    main()
