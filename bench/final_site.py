"""The final report of the site-shift issue: PneumoniaMNIST's test images as a new site, as trained against adapted.

Run after every method, default and recipe was chosen on validation (`bench/shift.py`), and again only when `adapt`'s
defaults change (last: rule 8, every method weighed), never to choose anything: the 624 test images
(the official Kermany test set at 28 px) are written as PNG files with anonymous, shuffled names into one flat folder,
the site a user would have. `shift_report` and `adapt_run` read that folder only, never a label; the labels are used
afterwards, by `evaluate_run` on the test split, to score the run as trained and, where `adapt` accepted the site,
adapted. A run saved before the sharpness check is copied and given the cut-off `train` now stores
(`fit_sharpness_check`), so that the site passes the same gate as in a new run.

    python bench/final_site.py --runs RUNS/main-default-42 RUNS/main-default-43 RUNS/main-default-44 \
        --out bench/results/final_site.json
"""
import argparse
import json
import platform
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from seeds import spread

SCORED = ("accuracy", "roc_auc", "recall", "specificity", "ece")


def with_sharpness_check(run_dir: Path, work: Path, data_dir: str|None) -> Path:
    "The run itself if it has the sharpness cut-off; else a copy in `work` given it by `train`'s rule."
    import numpy as np
    from pneumonia_nb.ood import fit_sharpness_check
    from pneumonia_nb.preprocess import dataset_images, make_dataset
    from pneumonia_nb.run_folder import load_run
    from pneumonia_nb.runs import run_splits
    ood = dict(np.load(run_dir / "ood.npz"))
    if "sharpness_cutoff" in ood: return run_dir
    run = load_run(run_dir)
    val = run_splits(run, None, data_dir, ("val",))["val"]
    images = dataset_images(make_dataset(val, run.size, run.resize, 256))
    ood |= fit_sharpness_check(run.model, images, run.threshold, float(ood["percentile"]))
    shutil.copytree(run_dir, copy := work / run_dir.name)
    np.savez(copy / "ood.npz", **ood)
    return copy


def site_folder(split: str, folder: Path, data_dir: str|None) -> None:
    "The split's images as PNG files with shuffled anonymous names, in one folder: what a site gives."
    import cv2
    import numpy as np
    from pneumonia_nb.data import load_pneumoniamnist
    images, _ = load_pneumoniamnist(split, data_dir=data_dir)
    folder.mkdir()
    for name, i in enumerate(np.random.default_rng(0).permutation(len(images))):
        cv2.imwrite(str(folder / f"img{name:04d}.png"), images[i])


def bench_run(run_dir: Path, split: str, data_dir: str|None, work: Path) -> dict:
    "As trained and adapted on the site, scored on its labels afterwards."
    from pneumonia_nb.data import DataError, load_pneumoniamnist
    from pneumonia_nb.runs import evaluate_run
    from pneumonia_nb.shift import adapt_run, shift_report
    run_dir = with_sharpness_check(run_dir, work, data_dir)
    site_folder(split, site := work / f"site-{run_dir.name}", data_dir)
    report = shift_report(run_dir, [site], data_dir)
    trained = evaluate_run(run_dir, data_dir=data_dir, split=split)
    row = {"run": run_dir.name, "site_images": report["site"]["images"], "refused": report["site"]["refused"],
           "mmd_p": report["population_shift"]["mmd"]["p_value"], "framing": report["framing"],
           "softness": report["softness"] and {k: v for k, v in report["softness"].items() if k != "check"},
           "advice": report["advice"],
           "estimated_share": report["class_shares"]["watched"]["site"],
           "interval": report["class_shares"]["watched"]["interval"],
           "true_share": float(load_pneumoniamnist(split, data_dir=data_dir)[1].mean()),   # labels: for scoring only
           "as_trained": {k: trained[k] for k in SCORED}}
    try:
        adapt_run(run_dir, [site], work / f"adapted-{run_dir.name}", data_dir)
        adapted = evaluate_run(work / f"adapted-{run_dir.name}", data_dir=data_dir, split=split)
        row.update(adapt_refused=None, adapted={k: adapted[k] for k in SCORED})
    except DataError as e: row.update(adapt_refused=str(e), adapted=None)
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", nargs="+", required=True, help="the main job's runs (`pneumonia-nb train --seed S`)")
    p.add_argument("--split", default="test", help="the PneumoniaMNIST split used as the site (test: the final report)")
    p.add_argument("--data-dir", help="the runs' data (default: $PNEUMONIA_NB_DATA)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as work:
        rows = [bench_run(Path(r), args.split, args.data_dir, Path(work)) for r in args.runs]
    import pneumonia_nb
    import tensorflow as tf
    summary = {side: {k: spread([r[side][k] for r in rows if r[side]]) if any(r[side] for r in rows) else None
                      for k in SCORED} for side in ("as_trained", "adapted")}
    summary["estimated_share"] = spread([r["estimated_share"] for r in rows])
    summary["adapt_refused"] = sum(r["adapt_refused"] is not None for r in rows)
    report = {"benchmark": f"PneumoniaMNIST {args.split} images as an unlabelled site: as trained against adapted",
              "command": shlex.join(["python", "bench/final_site.py", *["RUNS/" + Path(a).name
                                     if Path(a).parent == Path(args.runs[0]).parent else a for a in sys.argv[1:]]]),
              "machine": {"platform": platform.platform(), "python": platform.python_version(),
                          "tensorflow": tf.__version__, "pneumonia_nb": pneumonia_nb.__version__},
              "summary": summary, "runs": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
