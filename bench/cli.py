"""How fast the command line answers before any work: `pneumonia-nb --help`, a verb's help and an argument error.

Each is run 7 times in a fresh process; the JSON records the median and range in seconds and peak memory. The goal
(issue: a fast, quiet CLI) is at most 0.5 s without importing TensorFlow.

    python bench/cli.py --out bench/results/cli.json
"""
import argparse
import json
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = {"--help": ["--help"], "train --help": ["train", "--help"], "argument error": ["train", "--model", "alexnet", "--out", "x"]}


def timed(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([shutil.which("pneumonia-nb"), *args], capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    results = {}
    for name, argv in CASES.items():
        seconds = [timed(argv) for _ in range(args.repeats)]
        results[name] = {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds)}
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    report = {"benchmark": "pneumonia-nb start-up before any work", "command": "python bench/cli.py " + " ".join(sys.argv[1:]),
              "machine": {"platform": platform.platform(), "python": platform.python_version()},
              "results": results, "peak_child_rss_mb": peak_mb,
              "goals": {"--help and argument errors within 0.5 s (median)": all(r["median_s"] <= 0.5 for r in results.values())}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
