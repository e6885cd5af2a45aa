"""The recipe refactor keeps its promises: the same recipe trains the same model as before it, the command line turns
only the project's own errors into one line, and refuses a bad recipe before TensorFlow is imported."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cli

DATA = os.environ.get("PNEUMONIA_NB_DATA")
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.skipif(not DATA, reason="trains on the real data: PNEUMONIA_NB_DATA is not set")
def test_same_recipe_same_metrics_as_before_the_recipe_object(tmp_path):
    """metrics_before_recipe.json: `train_run('mnist', epochs=2, max_train_images=500)` with the code before `Recipe`
    (0845e1e..8cd4789). Byte-identical on one machine; another CPU's kernels sum in another order, so across machines
    the figures agree within 0.01 and the confusion counts within 3 images. The script, as a user's would, trains the
    default run (three models, calibrated, scored) and sees the progress line and no TensorFlow warning."""
    code = ("from pneumonia_nb.recipe import Recipe\nfrom pneumonia_nb.runs import train_run\n"
            "train_run('mnist', Recipe(epochs=2, max_train_images=500), verbose=0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})   # as CI sets it
    assert r.returncode == 0, r.stderr[-2000:]
    assert "WARNING" not in r.stdout + r.stderr and r.stderr.startswith("training cnn on pneumoniamnist at 28 px"), r.stderr
    now = json.loads((tmp_path / "mnist" / "metrics.json").read_text())
    before = json.loads((FIXTURES / "metrics_before_recipe.json").read_text())
    assert now.keys() == before.keys()
    for split in before:
        assert now[split].keys() == before[split].keys() and now[split]["n"] == before[split]["n"]
        counts = now[split].pop("confusion_matrix"), before[split].pop("confusion_matrix")
        assert all(abs(counts[0][k] - counts[1][k]) <= 3 for k in counts[1]), (split, counts)
        assert now[split] == pytest.approx(before[split], abs=0.01), split


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "epochs must be a positive whole number, not 0"),
    (["--resize", "squash"], "PneumoniaMNIST's images are centre crops"),
    (["--task", "three_class", "--mixup", "0.2"], "a task of 3 classes cannot use it"),
    (["--label-smoothing", "1"], "label smoothing must be at least 0 and below 1"),
])
def test_a_bad_recipe_is_refused_in_one_line_before_tensorflow(tmp_path, args, message):
    code = ("import sys\nfrom pneumonia_nb.cli import main\ncode = main(sys.argv[1:])\n"
            "print('tensorflow imported' if 'tensorflow' in sys.modules else 'no tensorflow'); sys.exit(code)")
    r = subprocess.run([sys.executable, "-c", code, "train", *args, "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("pneumonia-nb: error: "), r.stderr
    assert message in r.stderr and r.stdout.strip() == "no tensorflow", (r.stdout, r.stderr)
    assert not (tmp_path / "run").exists()


def test_only_the_projects_errors_become_one_line(tmp_path, monkeypatch):
    "A user's error: one line, exit 2. A bug (any other exception, a plain ValueError included): its traceback."
    import pneumonia_nb.cli as cli_module
    from pneumonia_nb.checks import OptionError
    def user_error(args): raise OptionError("unknown model 'vgg'; choose one of cnn")
    def bug(args): raise ValueError("an index went wrong inside the package")
    monkeypatch.setattr(cli_module, "preflight", lambda args: None)   # no run "r" to check: the verb itself raises
    for verb, expected in ((user_error, 2), (bug, None)):
        monkeypatch.setitem(cli_module.VERBS, "export", verb)
        if expected is None:
            with pytest.raises(ValueError, match="an index went wrong"): cli_module.main(["export", "r", "--format", "onnx", "--out", "x"])
        else: assert cli_module.main(["export", "r", "--format", "onnx", "--out", "x"]) == expected


def test_train_help_lists_every_recipe_option():
    import dataclasses
    from pneumonia_nb.recipe import Hyperparameters, Recipe
    r = cli("train", "--help")
    assert r.returncode == 0
    names = [f.name for f in dataclasses.fields(Recipe) if f.name != "hyper"] + [f.name for f in dataclasses.fields(Hyperparameters)]
    missing = [n for n in names if "--" + n.replace("_", "-") not in r.stdout]
    assert not missing, missing
    assert "--schedule {plateau,cosine}" in r.stdout and "the data set the run trains on (default:" in r.stdout
