"""Class-weight study: the CNN on PneumoniaMNIST with each imbalance strategy and several seeds (nbs/08_imbalance_study).

    python bench/imbalance_study.py --out bench/results/imbalance_study.json

Needs PneumoniaMNIST: --data-dir or $PNEUMONIA_NB_DATA (else it is downloaded; see pneumonia_nb.data.data_home).
"""
import argparse
import json
import os
import platform
import sys
from pathlib import Path


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir")
    p.add_argument("--seeds", type=int, default=3, help="seeds per strategy: 0, 1, ...")
    p.add_argument("--epochs", type=int, default=15, help="the epoch budget of every run")
    p.add_argument("--out", default="bench/results/imbalance_study.json")
    args = p.parse_args()
    import tensorflow as tf, keras, pneumonia_nb
    from pneumonia_nb.imbalance_study import run_study, summarise_study
    from pneumonia_nb.devices import setup_device
    device = setup_device()
    runs = run_study(seeds=tuple(range(args.seeds)), epochs=args.epochs, data_dir=args.data_dir)
    report = {"benchmark": "class-weight study, CNN on PneumoniaMNIST 28 px",
              "command": "python bench/imbalance_study.py " + " ".join(sys.argv[1:]),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "device": device,
                          "tensorflow": tf.__version__, "keras": keras.__version__, "pneumonia_nb": pneumonia_nb.__version__},
              "epochs": args.epochs, "seeds": args.seeds, "target_specificity": 0.90,
              "runs": runs.to_dict(orient="records"), "summary": summarise_study(runs).to_dict(orient="index")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(summarise_study(runs).to_string())


if __name__ == "__main__":
    main()
