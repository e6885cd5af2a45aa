"""How long `pneumonia-nb adapt` takes on 1000 real X-rays with the main job's recipe (three CNNs with test-time views).

Issue 29's goal: under a minute on 2 CPU cores. The run is trained once with the main job's architecture and recipe
but one epoch (the cost of adapting does not depend on how long the run trained); the site is the first N Kermany
training images at 224 px (real JPEG files, their labels never read), linked into one flat folder. Each repeat runs
the installed command in a fresh process, as a user does, so the time includes starting TensorFlow and loading the run;
a refusal (the Kermany files are another acquisition than PneumoniaMNIST) comes after the same work and is recorded.
The JSON records every repeat, the median and the range.

    python bench/adapt_cost.py --out bench/results/adapt_cost.json
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    from pneumonia_nb.data import kermany_dir
    from pneumonia_nb.recipe import Recipe
    from pneumonia_nb.runs import train_run
    work = Path(tempfile.mkdtemp())
    run = train_run(work / "run", Recipe(epochs=1, max_train_images=1000), verbose=0)
    files = sorted((kermany_dir() / "train").rglob("*.jpeg"))[:args.images]
    (work / "site").mkdir()
    for i, f in enumerate(files): (work / "site" / f"x{i:05d}.jpeg").symlink_to(f)
    repeats = []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        done = subprocess.run([shutil.which("pneumonia-nb"), "adapt", work / "run", work / "site", "--out", work / f"adapted{r}"],
                              capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        repeats.append({"seconds": time.perf_counter() - t0, "rc": done.returncode,
                        "said": (done.stdout or done.stderr).strip().splitlines()[-1]})
    seconds = [x["seconds"] for x in repeats]
    report = {"benchmark": "pneumonia-nb adapt on real X-rays, the main job's recipe",
              "command": "python bench/adapt_cost.py " + " ".join(sys.argv[1:]),
              "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
              "run": {"members": run.config["ensemble"], "tta": run.config["tta"], "size": run.config["size"]},
              "site_images": len(files), "repeats": repeats,
              "median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds),
              "goals": {"adapting 1000 images within 60 s (median)": statistics.median(seconds) <= 60}}
    shutil.rmtree(work)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
