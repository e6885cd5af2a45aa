"""The installed package works outside notebooks: a fresh interpreter, another working directory."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

DATA = os.environ.get("PNEUMONIA_NB_DATA")


def run_python(code: str, tmp_path: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


def test_version_matches_settings():
    import configparser, pneumonia_nb
    cfg = configparser.ConfigParser(); cfg.read(Path(__file__).parents[1] / "settings.ini")
    assert pneumonia_nb.__version__ == cfg["DEFAULT"]["version"]


@pytest.mark.skipif(not DATA, reason="checks the environment variable route: PNEUMONIA_NB_DATA is not set")
def test_loads_real_data_from_environment(tmp_path):
    code = ("from pneumonia_nb.data import load_pneumoniamnist, kermany_dir, scan_kermany\n"
            "x, y = load_pneumoniamnist('val'); print(x.shape, int(y.sum()))\n"
            "print(len(scan_kermany(kermany_dir(), check='none')))")
    out = run_python(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["(524, 28, 28) 389", "5216"]


def test_missing_data_error_says_what_was_tried(tmp_path):
    code = ("from pneumonia_nb.data import load_pneumoniamnist\n"
            "load_pneumoniamnist(download_missing=False)")
    out = run_python(code, tmp_path, PNEUMONIA_NB_DATA=str(tmp_path))
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("pneumonia_nb.data.DataNotFoundError: PneumoniaMNIST 28px not found")
    assert f"looked for {tmp_path / 'pneumoniamnist.npz'} (the data folder from $PNEUMONIA_NB_DATA)" in last
