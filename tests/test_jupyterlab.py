"""The widget demo as a person meets it: JupyterLab in headless Chromium, a project with a trained run, the demo
notebook opened and its last cell run, a real X-ray uploaded through the upload button. The screenshot is kept
in pytest's temporary folder (`pytest --basetemp DIR` to choose where)."""
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import chromium_driver, fullres_images

ROOT = Path(__file__).parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout: float, what: str):
    "Poll `condition` until it returns something true; fail naming `what` after `timeout` seconds."
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if result := condition(): return result
        except Exception as e:   # the page or the server is not there yet
            if isinstance(e, pytest.fail.Exception): raise
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def jupyterlab(tmp_path, run_dir):
    "A JupyterLab server on a copy of the project's layout: `nbs/11_widget_demo.ipynb` and the run as `runs/main`."
    (tmp_path / "nbs").mkdir()
    shutil.copy(ROOT / "nbs" / "11_widget_demo.ipynb", tmp_path / "nbs")
    shutil.copytree(run_dir, tmp_path / "runs" / "main")
    port = free_port()
    log = (tmp_path / "jupyterlab.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={tmp_path}",
         "--expose-app-in-browser", "--LabApp.news_url=None", "--allow-root"],
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    url = f"http://127.0.0.1:{port}"
    try:
        def started():
            if server.poll() is not None: pytest.fail(f"JupyterLab exited: {(tmp_path / 'jupyterlab.log').read_text()[-1500:]}")
            return requests.get(f"{url}/api/status", timeout=2).ok
        wait_until(started, 120, "JupyterLab to start")
        yield url
    finally:
        server.terminate()
        try: server.wait(30)
        except subprocess.TimeoutExpired: server.kill()
        log.close()


RUN_LAST_CELL = """
const notebook = window.jupyterapp.shell.currentWidget.content;
notebook.activeCellIndex = notebook.widgets.length - 1;
window.jupyterapp.commands.execute('notebook:run-cell');
"""
KERNEL_IDLE = """
const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
const kernel = panel && panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
return !!(kernel && kernel.status === 'idle' && panel.content.widgets.length > 1);
"""

# ipywidgets' upload button clicks a file input that is not in the page, which would open the system's file dialog:
# catch that click and put the input in the page, where the browser driver can choose a file in it as a person would.
CATCH_FILE_DIALOG = """
const click = HTMLInputElement.prototype.click;
HTMLInputElement.prototype.click = function () {
  if (this.type !== 'file') return click.call(this);
  this.id = 'caught-file-input'; document.body.appendChild(this);
};
"""


def test_widget_demo_in_jupyterlab(jupyterlab, tmp_path):
    from selenium.webdriver.common.by import By
    xray = fullres_images()[0]
    browser = chromium_driver()
    try:
        browser.set_window_size(1280, 1100)
        browser.get(f"{jupyterlab}/lab/tree/nbs/11_widget_demo.ipynb")
        wait_until(lambda: browser.execute_script(KERNEL_IDLE), 120, "the demo notebook and its kernel")
        browser.execute_script(RUN_LAST_CELL)
        # The run present is chosen at once, and the threshold is the run's own (not the slider's default 0.500).
        picker = wait_until(lambda: browser.find_element(By.CSS_SELECTOR, ".jp-OutputArea select"), 180, "the demo's run picker")
        assert picker.find_element(By.CSS_SELECTOR, "option:checked").text == "main"
        message = browser.find_element(By.CSS_SELECTOR, ".jp-OutputArea .widget-html-content").text
        assert "threshold" in message and "chosen on validation data" in message, message
        # Upload a real X-ray through the widget's own file input: one card with the image, the probability and the label.
        browser.execute_script(CATCH_FILE_DIALOG)
        browser.find_element(By.CSS_SELECTOR, ".jp-OutputArea .widget-upload").click()
        browser.find_element(By.ID, "caught-file-input").send_keys(str(xray))
        verdict = wait_until(lambda: next((e.text for e in browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea .widget-html-content")
                                           if "probability of pneumonia" in e.text), None), 120, "the prediction card")
        assert xray.name in verdict and ("NORMAL" in verdict or "PNEUMONIA" in verdict), verdict
        captions = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea .widget-html-content")]
        assert any("Regions that raised the pneumonia score" in c and "model saw" in c for c in captions), captions
        heatmap = browser.find_element(By.CSS_SELECTOR, ".jp-OutputArea img")
        assert heatmap.size["width"] > 100 and heatmap.size["height"] > 100, heatmap.size
        browser.execute_script("document.querySelectorAll('.Toastify__toast-container').forEach(e => e.remove())")   # the news prompt
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", heatmap)
        time.sleep(0.5)
        browser.save_screenshot(str(tmp_path / "jupyterlab-widget-demo.png"))
        errors = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")]
        assert not errors, errors   # no TensorFlow log lines shown as red boxes
    finally:
        browser.quit()


def test_run_all_goes_straight_to_the_demo(tmp_path):
    "Run All in a Jupyter kernel, as a user runs the notebook: its test cells skip themselves, nothing is trained."
    import nbformat
    from nbclient import NotebookClient
    (tmp_path / "nbs").mkdir()
    nb = nbformat.read(ROOT / "nbs" / "11_widget_demo.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(tmp_path / "nbs")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("name") == "stderr" or o.output_type == "error"], outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in nb.cells[-1].outputs)   # the demo
    assert list(tmp_path.rglob("config.json")) == []   # no run was trained
