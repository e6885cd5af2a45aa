"""Transfer from this project's own checkpoint (issue 32, item 3): does the two-stage schedule of notebook 05, started
from the CNN trained on Kermany's pneumonia-versus-normal task, tell bacterial from viral pneumonia better than the same
CNN trained on that task from scratch?

Per seed: one patient split (`load_splits(..., seed=SEED)`) for both tasks, so the source never sees a validation
patient; the source CNN trained on every training X-ray of the pneumonia task; then on the pathogen task's training
X-rays (the pneumonia ones) the transferred model (`transfer_from`, then `fine_tune`: head, then the last block at a
learning rate 100 times lower) and a CNN from scratch, with the same epoch budget, class weights and early stopping on
validation AUC. Validation only: AUC, log loss, and accuracy, sensitivity (viral) and specificity (bacterial) at
Youden's threshold on validation. Medians and ranges over seeds; times are wall seconds on this machine.

    python bench/transfer.py --size 48 --seeds 0 1 2 --out bench/results/transfer.json
"""
import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time

from seeds import spread

MEASURES = ("roc_auc", "log_loss", "accuracy", "recall", "specificity")


def scores(model, split, batches) -> dict:
    "Validation figures of one pathogen model."
    from sklearn.metrics import log_loss
    from pneumonia_nb.metrics import binary_metrics, choose_threshold
    from pneumonia_nb.training import predict_proba
    p = predict_proba(model, batches(split))
    m = binary_metrics(split.labels, p, choose_threshold(split.labels, p))
    return {**{k: float(m[k]) for k in MEASURES if k != "log_loss"}, "log_loss": float(log_loss(split.labels, p))}


def bench_seed(seed: int, size: int, epochs: int, data_dir: str|None) -> list[dict]:
    "The source, then the transferred and the from-scratch pathogen models of one seed."
    from pneumonia_nb.cnn import build_cnn
    from pneumonia_nb.data import load_splits
    from pneumonia_nb.devices import set_seed
    from pneumonia_nb.preprocess import class_weights, make_dataset
    from pneumonia_nb.training import fit
    from pneumonia_nb.transfer import fine_tune, transfer_from
    set_seed(seed)
    pneumonia = load_splits("kermany", size, data_dir, seed=seed)
    kinds = load_splits("kermany", size, data_dir, seed=seed, task="pathogen")
    def batches(split, training=False): return make_dataset(split, size=size, batch_size=64, training=training, seed=seed)
    train, val, weights = kinds["train"], kinds["val"], class_weights(kinds["train"].labels)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        source = build_cnn(size)
        history = fit(source, batches(pneumonia["train"], True), batches(pneumonia["val"]), f"{tmp}/source", epochs,
                      patience=4, verbose=0)
        source_seconds, source_auc = time.perf_counter() - t0, float(history.val_auc.max())
        head = max(1, epochs//3)
        for start in ("checkpoint", "scratch"):
            set_seed(seed)
            t0 = time.perf_counter()
            if start == "checkpoint":
                model = transfer_from(source)
                history = fine_tune(model, "checkpoint", batches(train, True), batches(val), f"{tmp}/{start}",
                                    head_epochs=head, tune_epochs=epochs - head, class_weight=weights, patience=4,
                                    verbose=0)
            else:
                model = build_cnn(size)
                history = fit(model, batches(train, True), batches(val), f"{tmp}/{start}", epochs,
                              class_weight=weights, patience=4, verbose=0)
            rows.append({"seed": seed, "start": start, **scores(model, val, batches), "epochs_run": len(history),
                         "seconds": time.perf_counter() - t0, "source_val_auc": source_auc,
                         "source_seconds": source_seconds, "train_images": len(train), "val_images": len(val)})
            print(f"seed {seed} {start}: {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--epochs", type=int, default=15, help="the most epochs of each model (the transfer's in all)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    from pneumonia_nb.devices import setup_device
    setup_device()
    rows = [row for seed in args.seeds for row in bench_seed(seed, args.size, args.epochs, args.data_dir)]
    summary = {start: {k: spread([r[k] for r in rows if r["start"] == start]) for k in (*MEASURES, "seconds")}
               for start in ("checkpoint", "scratch")}
    gain = [a["roc_auc"] - b["roc_auc"] for a, b in zip(rows[::2], rows[1::2])]
    out = {"command": "python bench/transfer.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
           "machine": {"platform": platform.platform(), "cores": os.cpu_count()},
           "summary": summary, "auc_gain_of_transfer": spread(gain), "runs": rows}
    with open(args.out, "w") as f: json.dump(out, f, indent=1)
    print(json.dumps({"summary": summary, "auc_gain_of_transfer": out["auc_gain_of_transfer"]}, indent=1))


if __name__ == "__main__":
    main()
