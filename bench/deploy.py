"""Deploy and scale: exported models against Keras, and batch prediction over many files against a per-image loop.

Part 1, exports: one run's model exported as ONNX and LiteRT (`pneumonia-nb export`), timed side by side with
Keras' `model.predict` on the same real X-rays (the 12 full-resolution originals made square as the run makes
them): single-image p50/p95 latency and batch-64 throughput, in interleaved rounds; the median over rounds is
reported with its range. Parity is the largest absolute difference from the Keras probabilities.

Part 2, many files: the 12 originals (27 KB-1 MB JPEGs, 856-2268 px on the long side) repeated to N files, predicted by
`Predictor.predict` one file at a time (the obvious loop) and by `Predictor.predict_files` (threads read the next
batch while the model predicts the current one), each in its own fresh process so that its peak memory (ru_maxrss)
is its own, in interleaved rounds (median and range); `predict_files` runs at two N to show whether memory grows
with the number of files. Both decode JPEGs at twice the model's size (Part 3).

Part 3, reduced decoding: the 12 originals decoded and made square at the run's size, from a full decode and from a
decode at twice the run's size (libjpeg's DCT scaling, `decode_xray(min_side=...)`), in interleaved rounds: milliseconds
per image (median over rounds, with the range), how far the model inputs differ (grey levels RMS), and whether the
run gives the same labels and how far its probabilities move.

Runs on 2 CPU cores (pinned with sched_setaffinity when the machine has more).

    python bench/deploy.py --out bench/results/deploy.json                 # the default run (trained if missing)
    python bench/deploy.py --run runs/main --files 300 1000 --out /tmp/deploy.json

Needs the data: $PNEUMONIA_NB_DATA or the default data folder (see pneumonia_nb.data.data_home).
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CORES = 2


def pin_cores() -> None:
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > CORES:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:CORES])


def latency(call, x, repeats: int) -> list[float]:
    "Seconds per `call` on each single image of `x` in turn, after 5 untimed calls."
    for i in range(5): call(x[i % len(x)][None])
    times = []
    for i in range(repeats):
        t0 = time.perf_counter(); call(x[i % len(x)][None]); times.append(time.perf_counter() - t0)
    return times


def throughput(call, x, batch: int, repeats: int) -> float:
    "Images per second of `call` on batches of `batch` images (the X-rays repeated)."
    xb = x[[i % len(x) for i in range(batch)]]
    call(xb)
    t0 = time.perf_counter()
    for _ in range(repeats): call(xb)
    return batch*repeats/(time.perf_counter() - t0)


def runners(run, folder: Path) -> dict:
    "Keras predict and each export's runtime, as functions of a uint8 batch."
    import numpy as np
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter
    from pneumonia_nb.export import export_run
    onnx = ort.InferenceSession(str(export_run(run.path, "onnx", folder/"model.onnx")), providers=["CPUExecutionProvider"])
    litert = Interpreter(model_path=str(export_run(run.path, "litert", folder/"model.tflite")), num_threads=CORES)
    image = litert.get_input_details()[0]["index"]
    def run_litert(x):
        if tuple(litert.get_input_details()[0]["shape"]) != x.shape: litert.resize_tensor_input(image, x.shape); litert.allocate_tensors()
        litert.set_tensor(image, x); litert.invoke()
        return litert.get_tensor(litert.get_output_details()[0]["index"])
    return {"keras_predict": lambda x: run.model.predict(x.astype(np.float32), verbose=0),
            "onnxruntime": lambda x: onnx.run(None, {"image": x})[0],
            "litert": run_litert}


def exports(run_dir: Path, rounds: int, repeats: int) -> dict:
    import numpy as np
    from pneumonia_nb.data import read_xray, resize_xray, sample_originals
    from pneumonia_nb.run_folder import load_run
    run = load_run(run_dir)
    x = np.stack([resize_xray(read_xray(f), run.size, run.resize) for f in sample_originals()])
    with tempfile.TemporaryDirectory() as tmp:
        calls = runners(run, Path(tmp))
        expected = np.asarray(calls["keras_predict"](x)).ravel()
        parity = {name: float(np.abs(np.asarray(call(x)).ravel() - expected).max()) for name, call in calls.items()}
        p50s, p95s, batch64 = ({name: [] for name in calls} for _ in range(3))
        for _ in range(rounds):   # interleaved, so that a slow moment of the machine touches every runtime alike
            for name, call in calls.items():
                ms = sorted(1000*t for t in latency(call, x, repeats))
                p50s[name].append(statistics.median(ms)); p95s[name].append(statistics.quantiles(ms, n=20)[18])
                batch64[name].append(throughput(call, x, 64, max(3, repeats//20)))
    summary = lambda v: {"median": round(statistics.median(v), 3), "min": round(min(v), 3), "max": round(max(v), 3)}
    out = {name: {"single_p50_ms": summary(p50s[name]), "single_p95_ms": summary(p95s[name]),
                  "batch64_images_per_s": summary(batch64[name]), "max_abs_diff_from_keras": parity[name]} for name in calls}
    best = min(("onnxruntime", "litert"), key=lambda n: statistics.median(p50s[n]))
    out["speedup_single_p50_best_export_vs_keras_predict"] = round(statistics.median(p50s["keras_predict"])/statistics.median(p50s[best]), 2)
    out["best_export"] = best
    return out


def many_files_child(run_dir: str, mode: str, n: int) -> None:
    "In a fresh process: predict `n` files (the originals repeated) one at a time or with `predict_files`; print JSON."
    pin_cores()
    from pneumonia_nb.data import sample_originals
    from pneumonia_nb.predict import Predictor
    originals = sample_originals()
    files = [originals[i % len(originals)] for i in range(n)]
    predictor = Predictor(run_dir)
    predictor.predict(files[0])   # loads and traces the model before the clock starts
    t0 = time.perf_counter()
    if mode == "per_image": results = [predictor.predict(f).probability for f in files]
    else: results = [r["probability"] for r in predictor.predict_files(files)]
    seconds = time.perf_counter() - t0
    print(json.dumps({"mode": mode, "files": n, "seconds": round(seconds, 2), "images_per_s": round(n/seconds, 2),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024), "predicted": len(results)}))


def many_files(run_dir: Path, sizes: list[int], rounds: int) -> dict:
    def child(mode, n):
        r = subprocess.run([sys.executable, __file__, "--child", str(run_dir), mode, str(n)], capture_output=True, text=True,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        if r.returncode: raise RuntimeError(r.stderr[-2000:])
        return json.loads(r.stdout.strip().splitlines()[-1])
    modes = [("per_image", sizes[0])] + [("predict_files", n) for n in sizes]
    runs = {m: [] for m in modes}
    for _ in range(rounds):   # interleaved rounds, each mode in a fresh process
        for mode, n in modes: runs[(mode, n)].append(child(mode, n))
    median = lambda m, key: statistics.median(r[key] for r in runs[m])
    rows = [{"mode": mode, "files": n, "images_per_s": {"median": median((mode, n), "images_per_s"), "min": min(r["images_per_s"] for r in runs[(mode, n)]),
                                                     "max": max(r["images_per_s"] for r in runs[(mode, n)])},
             "peak_rss_mb": median((mode, n), "peak_rss_mb"), "rounds": rounds} for mode, n in modes]
    return {"rows": rows, "speedup_predict_files_vs_per_image": round(median(modes[1], "images_per_s")/median(modes[0], "images_per_s"), 2),
            "peak_rss_mb_growth_from_fewest_to_most_files": median(modes[-1], "peak_rss_mb") - median(modes[1], "peak_rss_mb")}


def reduced_decoding(run_dir: Path, rounds: int, repeats: int=10) -> dict:
    "Full decoding against decoding at twice the run's size: milliseconds per original, input difference, labels."
    import numpy as np
    from pneumonia_nb.data import decode_xray, resize_xray, sample_originals
    from pneumonia_nb.run_folder import load_run
    run = load_run(run_dir)
    blobs = [(f.name, f.read_bytes()) for f in sample_originals()]
    sides = {"full": None, "reduced": 2*run.size}
    ms, inputs = {m: [] for m in sides}, {}
    for _ in range(rounds):   # interleaved, so that a slow moment of the machine touches both alike
        for mode, side in sides.items():
            t0 = time.perf_counter()
            for _ in range(repeats): inputs[mode] = np.stack([resize_xray(decode_xray(b, n, side), run.size, run.resize) for n, b in blobs])
            ms[mode].append(1000*(time.perf_counter() - t0)/repeats/len(blobs))
    prob = {m: run.model.predict(x.astype(np.float32), verbose=0).ravel() for m, x in inputs.items()}
    spread = lambda v: {"median": round(statistics.median(v), 3), "min": round(min(v), 3), "max": round(max(v), 3)}
    return {"images": len(blobs), "rounds": rounds, "ms_per_image": {m: spread(v) for m, v in ms.items()},
            "speedup": round(statistics.median(ms["full"])/statistics.median(ms["reduced"]), 2),
            "input_rms_grey_levels_max": round(float(np.sqrt(((inputs["full"].astype(float) - inputs["reduced"])**2).mean(axis=(1, 2, 3))).max()), 2),
            "same_labels": int(((prob["full"] >= run.threshold) == (prob["reduced"] >= run.threshold)).sum()),
            "probability_difference_max": round(float(np.abs(prob["full"] - prob["reduced"]).max()), 4)}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child": return many_files_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", type=Path, help="a run directory (default: the default run, trained if missing)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--files", type=int, nargs="+", default=[300, 1000])
    ap.add_argument("--parts", nargs="+", default=["exports", "many_files", "reduced_decoding"],
                    help="which parts to run (the others are kept from an existing --out file)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    pin_cores()
    from pneumonia_nb.runs import default_run
    run_dir = args.run or default_run("runs")
    import keras, onnxruntime, tensorflow as tf
    config = json.loads((run_dir/"config.json").read_text())
    parts = {"exports": lambda: exports(run_dir, args.rounds, args.repeats), "many_files": lambda: many_files(run_dir, args.files, args.rounds),
             "reduced_decoding": lambda: reduced_decoding(run_dir, args.rounds)}
    result = json.loads(args.out.read_text()) if args.out.exists() else {}
    result.update({"run": {k: config.get(k) for k in ("model", "dataset", "size", "ensemble", "tta", "train_images", "epochs_run")},
                   **{name: parts[name]() for name in args.parts},
                   "machine": {"cores": CORES, "python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
                               "onnxruntime": onnxruntime.__version__, "processor": platform.processor() or platform.machine()}})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
