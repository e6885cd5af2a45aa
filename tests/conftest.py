"""Shared by the end-to-end tests: real data found by the package's own rule, the console script (in a fresh process, or
its `main` in this one), one small trained run for the whole session, and a headless Chromium."""
import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pneumonia_nb.data import data_home, kermany_dir, sample_originals

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"   # TensorFlow imported in this process (see `cli`) prints no C++ start-up lines

# Real data, found by the package's own rule ($PNEUMONIA_NB_DATA, else the default data folder; downloaded if missing).
HOME = data_home()[0]
fullres_images = sample_originals   # full-resolution originals: the local samples, else Kermany training images


def kermany_images(cls: str, n: int) -> list[Path]:
    "The first `n` real training images of class `cls`."
    return sorted((kermany_dir(download_from="kaggle") / "train" / cls).glob("*.jpeg"))[:n]


def console_script() -> str:
    "The installed `pneumonia-nb` command."
    exe = shutil.which("pneumonia-nb", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    assert exe, "the console script pneumonia-nb is not installed"
    return exe


def console(*args, cwd=None) -> subprocess.CompletedProcess:
    "`pneumonia-nb ARGS` as a user runs it: the installed script in a fresh process."
    return subprocess.run([console_script(), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


@contextlib.contextmanager
def captured_output():
    "This process's stdout and stderr, Python's and the C++ libraries' alike (file descriptors 1 and 2), into two files."
    files = [tempfile.TemporaryFile() for _ in range(2)]
    sys.stdout.flush(); sys.stderr.flush()
    saved_fds, saved_streams = [os.dup(1), os.dup(2)], (sys.stdout, sys.stderr)
    for fd, f in zip((1, 2), files): os.dup2(f.fileno(), fd)
    sys.stdout, sys.stderr = (io.TextIOWrapper(open(fd, "wb", closefd=False), "utf-8", errors, write_through=True)
                              for fd, errors in ((1, "strict"), (2, "backslashreplace")))
    try: yield files
    finally:
        sys.stdout.flush(); sys.stderr.flush()
        sys.stdout, sys.stderr = saved_streams
        for fd, saved in zip((1, 2), saved_fds): os.dup2(saved, fd); os.close(saved)


def cli(*args, cwd=None) -> subprocess.CompletedProcess:
    """`pneumonia-nb ARGS` through the console script's own `main`, in this process, so that TensorFlow is imported once
    for the session rather than once a call (5-7 s on 2 cores). A bug's exception reaches the test with its traceback.
    `console` runs the installed script in a fresh process, for what only a fresh process shows."""
    from pneumonia_nb.cli import main
    here = os.getcwd()
    with captured_output() as (out, err):
        try:
            if cwd is not None: os.chdir(cwd)
            try: rc = main(list(map(str, args)))
            except SystemExit as e: rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)   # argparse
        finally: os.chdir(here)
    out.seek(0); err.seek(0)
    return subprocess.CompletedProcess(["pneumonia-nb", *map(str, args)], rc, out.read().decode(), err.read().decode())


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    """A small real run of the main job's recipe (CNN, 1000 PneumoniaMNIST images, 3 epochs), as `train --epochs 3
    --max-train-images 1000` makes it: trained once for this code and kept (`cached_run`; the notebooks ask for the same
    one), copied here. `test_train_through_the_command_line` trains through the console script itself."""
    from pneumonia_nb.recipe import Recipe
    from pneumonia_nb.runs import cached_run
    return cached_run(tmp_path_factory.mktemp("runs") / "small", Recipe(epochs=3, max_train_images=1000)).path


@pytest.fixture(scope="session")
def one_model_run(tmp_path_factory) -> Path:
    """`run_dir`'s recipe with one CNN instead of three (`--ensemble 1`), its test-time views kept: the run notebook
    09a adapts, which reads a site three times faster; for the tests that adapt a site several times over."""
    from pneumonia_nb.recipe import Recipe
    from pneumonia_nb.runs import cached_run
    return cached_run(tmp_path_factory.mktemp("runs") / "one", Recipe(epochs=3, max_train_images=1000, ensemble=1)).path


def chromium_driver():
    "Headless Debian Chromium through its chromedriver (no browser download), or a skip outside CI when absent."
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        if os.environ.get("CI"): pytest.fail("CI needs Debian's chromium and chromium-driver (see .ci/run)")
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=opts)


def free_port() -> int:
    "A TCP port on loopback that nothing listens on now."
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """A real PostgreSQL server (Debian's `postgresql`) of its own: a fresh cluster in a temporary folder, listening on a
    private loopback port and socket, a password-protected superuser; stopped and removed afterwards. Yields its URL."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not bins:
        if os.environ.get("CI"): pytest.fail("CI needs Debian's postgresql (see .ci/run)")
        pytest.skip("Debian's postgresql is not installed")
    bin_dir, folder, port = bins[-1].parent, Path(tempfile.mkdtemp(prefix="pneumonia-nb-pg-")), free_port()
    # the server refuses to run as root: there it runs as Debian's `postgres` user
    as_server = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    (folder / "password").write_text("tuner-secret\n")
    if as_server: shutil.chown(folder, "postgres"); shutil.chown(folder / "password", "postgres")
    def server(*args): subprocess.run([*as_server, *map(str, args)], check=True, capture_output=True, timeout=120)
    server(bin_dir / "initdb", "-D", folder / "data", "-U", "tuner", "--pwfile", folder / "password",
           "--auth", "scram-sha-256")
    server(bin_dir / "pg_ctl", "-D", folder / "data", "-l", folder / "log", "-w", "start",
           "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1")
    try:
        env = {**os.environ, "PGPASSWORD": "tuner-secret"}
        subprocess.run([bin_dir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "tuner", "optuna"], check=True,
                       env=env, capture_output=True, timeout=60)
        yield f"postgresql://tuner:tuner-secret@127.0.0.1:{port}/optuna"
    finally:
        server(bin_dir / "pg_ctl", "-D", folder / "data", "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)
