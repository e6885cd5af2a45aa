"""How fast the command line answers before any work: `pneumonia-nb --help`, a verb's help, an argument error, and the
refusals that need no model (a mistyped run folder, `--epochs 0`, an output that exists).

Each is run 7 times in a fresh process, in an empty folder holding one existing directory; the JSON records the median
and range in seconds and peak memory. The goals (issues: a fast, quiet CLI; refusals before TensorFlow is imported):
help and argument errors within 0.5 s, refusals within 1 s (medians).

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
import tempfile
import time
from pathlib import Path

HELP = {"--help": ["--help"], "train --help": ["train", "--help"], "argument error": ["train", "--model", "alexnet", "--out", "x"]}
REFUSALS = {"no such run": ["evaluate", "runs/mian"], "epochs 0": ["train", "--epochs", "0", "--out", "x"],
            "output exists": ["train", "--out", "taken"]}


def timed(args: list[str], where: str, refusal: bool) -> float:
    "Seconds until `pneumonia-nb args` has answered, run in `where`; a refusal must be one line, exit status 2."
    t0 = time.perf_counter()
    r = subprocess.run([shutil.which("pneumonia-nb"), *args], capture_output=True, text=True, cwd=where)
    seconds = time.perf_counter() - t0
    if refusal and (r.returncode != 2 or len(r.stderr.splitlines()) != 1):
        raise SystemExit(f"{args}: expected a one-line refusal, got rc {r.returncode}: {r.stderr}")
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as where:
        (Path(where)/"taken").mkdir()
        for name, argv in {**HELP, **REFUSALS}.items():
            seconds = [timed(argv, where, name in REFUSALS) for _ in range(args.repeats)]
            results[name] = {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds)}
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    report = {"benchmark": "pneumonia-nb start-up before any work", "command": "python bench/cli.py " + " ".join(sys.argv[1:]),
              "machine": {"platform": platform.platform(), "python": platform.python_version()},
              "results": results, "peak_child_rss_mb": peak_mb,
              "goals": {"--help and argument errors within 0.5 s (median)": all(results[n]["median_s"] <= 0.5 for n in HELP),
                        "refusals that need no model within 1 s (median)":
                            all(results[n]["median_s"] <= 1 for n in REFUSALS)}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
