"""Scoring an archive past one process (issue 30): `predict --out FOLDER.parquet` in this process against Ray actors on
a local two-node Ray cluster (one head and one worker node on loopback, one CPU each), on the same real X-rays.

The files are Kermany training images at 224 px and the full-resolution originals, the first N in name order. Per
engine and repeat: wall seconds, images per second, and for Ray the cluster's start-up (both nodes up and joined),
the peak resident memory of each actor process (sampled every 0.2 s), and a check that every result equals the
in-process one. Then, apart, what one core spends per image on reading and decoding files against the model itself,
and a projection to MIMIC-CXR's 377,110 images on N machines from the measured per-worker rate. Medians over repeats.

    python bench/scale.py --run RUN --images 5000 --repeats 3 --out bench/results/scale.json
"""
import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import threading
import time
from pathlib import Path

from seeds import spread

ARCHIVE = 377_110   # MIMIC-CXR's images


def real_xrays(n: int, data_dir: str|None) -> list[str]:
    "The first `n` real X-ray files: Kermany's training images at 224 px, then the full-resolution originals."
    from pneumonia_nb.data import data_home, kermany_dir, sample_originals
    train = sorted(str(p) for p in (kermany_dir(data_dir or data_home()[0]) / "train").rglob("*.jpeg"))
    return (train + [str(p) for p in sample_originals()])[:n]


def actor_peaks(stop: threading.Event, peaks: dict) -> None:
    "Sample the resident memory of every Ray actor process until `stop`; keep each one's peak in MB."
    import psutil
    while not stop.is_set():
        for p in psutil.process_iter(["pid", "cmdline"]):
            if any("MapWorker" in part for part in (p.info["cmdline"] or [])):
                try: peaks[p.pid] = max(peaks.get(p.pid, 0), p.memory_info().rss / 2**20)
                except psutil.Error: pass
        time.sleep(0.2)


def score(run: str, files: list[str], engine: str, address: str|None=None) -> tuple[float, Path]:
    "Seconds to score `files` into a new results folder, and the folder."
    from pneumonia_nb.archive import predict_archive
    out = Path(tempfile.mkdtemp()) / "results.parquet"
    t0 = time.perf_counter()
    n = predict_archive(run, files, out, engine, address, workers=2 if engine == "ray" else None)
    assert n["scored"] == len(files), n
    return time.perf_counter() - t0, out


def per_image_costs(run: str, files: list[str]) -> dict:
    "Milliseconds per image on this process: reading and decoding a file to the model's input, and the model."
    import numpy as np
    from pneumonia_nb.predict import Predictor
    predictor = Predictor(run)
    t0 = time.perf_counter()
    inputs = [predictor._model_input(f) for f in files]
    read = (time.perf_counter() - t0) / len(files)
    x = np.stack([x for _, x in inputs if not isinstance(x, str)]).astype("float32")
    predictor.run.model(x[:32], training=False)   # traced once
    t0 = time.perf_counter()
    for i in range(0, len(x), 128):
        batch = x[i:i + 128]; predictor.ood_check(batch, [""] * len(batch)); predictor.run.model(batch, training=False)
    model = (time.perf_counter() - t0) / len(x)
    return {"read_and_decode_ms": 1000 * read, "gate_and_model_ms": 1000 * model, "images": len(files)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    import pandas as pd
    from ray.cluster_utils import Cluster
    files, rows = real_xrays(args.images, args.data_dir), []
    for repeat in range(args.repeats):
        seconds, here = score(args.run, files, "local")
        rows.append({"repeat": repeat, "engine": "local", "seconds": seconds, "images_per_second": len(files) / seconds})
        print(rows[-1], file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        cluster.add_node(num_cpus=1); cluster.wait_for_nodes()
        startup = time.perf_counter() - t0
        stop, peaks = threading.Event(), {}
        sampler = threading.Thread(target=actor_peaks, args=(stop, peaks)); sampler.start()
        try: seconds, on_ray = score(args.run, files, "ray", cluster.address)
        finally: stop.set(); sampler.join(); cluster.shutdown()
        both = pd.read_parquet(here).merge(pd.read_parquet(on_ray), on="file", suffixes=("", "_ray"))
        same = bool(len(both) == len(files) and (both.error.fillna("") == both.error_ray.fillna("")).all()
                    and (both.probability.fillna(-1) - both.probability_ray.fillna(-1)).abs().max() < 1e-6)
        rows.append({"repeat": repeat, "engine": "ray", "seconds": seconds, "images_per_second": len(files) / seconds,
                     "cluster_startup_seconds": startup, "actor_peak_rss_mb": sorted(peaks.values()),
                     "same_results_as_local": same})
        print(rows[-1], file=sys.stderr, flush=True)
    costs = per_image_costs(args.run, files[:500])
    summary = {engine: {k: spread([r[k] for r in rows if r["engine"] == engine]) for k in ("seconds", "images_per_second")}
               for engine in ("local", "ray")}
    summary["ray"]["cluster_startup_seconds"] = spread([r["cluster_startup_seconds"] for r in rows if r["engine"] == "ray"])
    summary["ray"]["actor_peak_rss_mb"] = spread([m for r in rows if r["engine"] == "ray" for m in r["actor_peak_rss_mb"]])
    per_worker = summary["ray"]["images_per_second"]["median"] / 2   # two one-CPU workers
    projection = {f"{machines} machines x {cores} cores": round(ARCHIVE / (machines * cores * per_worker) / 60, 1)
                  for machines in (1, 4, 16) for cores in (2, 16)}
    out = {"command": "python bench/scale.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
           "machine": {"platform": platform.platform(), "cores": os.cpu_count()}, "images": len(files),
           "summary": summary, "per_image_on_one_core": costs, "per_worker_images_per_second": per_worker,
           "projected_minutes_for_377110_images": projection, "runs": rows}
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(json.dumps({k: out[k] for k in ("summary", "per_image_on_one_core", "projected_minutes_for_377110_images")},
                     indent=1))


if __name__ == "__main__":
    main()
