"""Latency benchmark of single-image prediction: `Predictor.predict` in process and `POST /api/predict` over HTTP.

One image at a time, as a clinician or a client sends them: real full-resolution X-rays (the 12 originals of the
local data copy, 1-3 MB JPEGs of 1300-2900 px), each decoded, resized and predicted, with and without the
Grad-CAM heatmap. The HTTP figures come from `pneumonia-nb serve` running in its own process on the same run, in
the same benchmark run, so the ratio HTTP / in-process is the cost of the web layer (upload, parsing, JSON,
base64 PNG). Runs on 2 CPU cores (pinned with sched_setaffinity when the machine has more).

    python bench/serve.py --out bench/results/serve.json                 # the default run (trained if missing)
    python bench/serve.py --run runs/main --transfer --out /tmp/serve.json

Needs the data: $PNEUMONIA_NB_DATA or the default data folder (see pneumonia_nb.data.data_home).
"""
import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CORES = 2


def percentiles(seconds: list[float]) -> dict:
    "p50 and p95 in milliseconds, and the number of timed calls."
    ms = sorted(1000 * s for s in seconds)
    q = statistics.quantiles(ms, n=20, method="inclusive")
    return {"p50_ms": round(statistics.median(ms), 2), "p95_ms": round(q[18], 2), "n": len(ms)}


def timed(call, items: list, repeats: int, warmup: int = 5) -> dict:
    "Latency of `call(item)` over `repeats` calls cycling through `items`, after `warmup` untimed calls."
    for i in range(warmup): call(items[i % len(items)])
    times = []
    for i in range(repeats):
        t0 = time.perf_counter(); call(items[i % len(items)]); times.append(time.perf_counter() - t0)
    return percentiles(times)


def in_process(run_dir: Path, images: list[tuple[str, bytes]], repeats: int) -> dict:
    "Predictor.predict on the bytes of each image, without and with the heatmap (PNG encoded, as the API sends it)."
    from pneumonia_nb.predict import Predictor
    predictor = Predictor(run_dir)
    return {"predict": timed(lambda im: predictor.predict(im[1], im[0]), images, repeats),
            "predict_heatmap": timed(lambda im: predictor.predict(im[1], im[0], heatmap=True).heatmap_png(), images, repeats // 2)}


def over_http(run_dir: Path, images: list[tuple[str, bytes]], repeats: int) -> dict:
    "POST /api/predict to `pneumonia-nb serve` in its own process (pinned to the same cores), one request at a time."
    import requests
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "pneumonia-nb"
    proc = subprocess.Popen([str(exe), "serve", str(run_dir), "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    url = f"http://127.0.0.1:{port}/api/predict"
    try:
        for _ in range(240):
            try:
                if requests.get(url.replace("predict", "health"), timeout=2).ok: break
            except requests.ConnectionError: time.sleep(0.5)
        with requests.Session() as session:
            def post(im, heatmap="0"):
                r = session.post(url, files={"file": (im[0], im[1], "image/jpeg")}, data={"heatmap": heatmap}, timeout=60)
                r.raise_for_status()
            return {"http": timed(post, images, repeats),
                    "http_heatmap": timed(lambda im: post(im, "1"), images, repeats // 2)}
    finally:
        proc.terminate(); proc.wait(20)


def transfer_run(size: int = 299) -> Path:
    "A saved InceptionV3 run with random weights (ImageNet weights cannot be downloaded here): latency needs no training."
    from pneumonia_nb.run_folder import Run, save_run
    from pneumonia_nb.transfer import build_transfer
    model = build_transfer("inceptionv3", size, weights=None, allow_random=True)
    out = Path(tempfile.mkdtemp()) / "inceptionv3-random"
    save_run(Run(model, {"model": "inceptionv3", "dataset": "none (random weights, latency only)", "size": size,
                         "resize": "squash", "threshold": 0.5}), out)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", help="run directory (default: the default run in runs/, trained if missing)")
    p.add_argument("--repeats", type=int, default=200, help="timed calls without heatmap (half as many with)")
    p.add_argument("--transfer", action="store_true", help="also time an InceptionV3 run (random weights)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if len(os.sched_getaffinity(0)) > CORES: os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:CORES]))
    from pneumonia_nb.data import sample_originals
    from pneumonia_nb.runs import default_run
    originals = sample_originals()
    images = [(f.name, f.read_bytes()) for f in originals]
    runs = {"cnn": Path(args.run) if args.run else default_run("runs")}
    if args.transfer: runs["inceptionv3"] = transfer_run()
    results = {}
    for name, run_dir in runs.items():
        r = {**in_process(run_dir, images, args.repeats), **over_http(run_dir, images, args.repeats)}
        r["http_over_predict_p50"] = round(r["http"]["p50_ms"] / r["predict"]["p50_ms"], 2)
        r["http_heatmap_over_predict_heatmap_p50"] = round(r["http_heatmap"]["p50_ms"] / r["predict_heatmap"]["p50_ms"], 2)
        results[name] = {"run": str(run_dir), **r}
        print(name, json.dumps(r), flush=True)
    import tensorflow as tf
    out = {"benchmark": "single-image prediction latency", "cores": len(os.sched_getaffinity(0)),
           "cpu": platform.processor() or platform.machine(), "python": platform.python_version(), "tensorflow": tf.__version__,
           "images": {"files": len(images), "mean_mb": round(statistics.mean(len(b) for _, b in images) / 1e6, 2)},
           "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
