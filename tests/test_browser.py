"""The walkthrough a user makes, in a real browser: run a study, `hpo ui`, look at it in MLflow.

Headless Chromium from Debian's packages (``chromium``, ``chromium-driver``; ``make test``
installs them where it can), driven by Selenium; no browser is downloaded. Where they are not
installed the test is skipped, saying so. Screenshots go to ``$HPO_TEST_ARTIFACTS`` (default
``test-artifacts/`` in the repository).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from hpo._plots import PLOTS
from tests.conftest import free_port, hpo_cli, study_runs

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(os.environ.get("HPO_TEST_ARTIFACTS") or Path(__file__).resolve().parent.parent / "test-artifacts")

OBJECTIVE = """
def fit(params, trial):
    for epoch in range(4):
        trial.report((params["x"] - 1) ** 2 + 4 - epoch, epoch)
    return (params["x"] - 1) ** 2 + params["depth"]
"""

CONFIG = """
name: walkthrough
objective: ui_objective:fit
space:
  x: {float: [-3, 3]}
  depth: {int: [1, 4]}
n_trials: 6
seed: 0
pruner: none
tracking: %s
"""


# A second study in the same store: two objectives, whose parent run has the Pareto plot.
PARETO_OBJECTIVE = """
def fit(params):
    return {"error": (params["x"] - 1) ** 2, "cost": abs(params["x"])}
"""

PARETO_CONFIG = """
name: walkthrough-pareto
objective: ui_pareto:fit
space:
  x: {float: [-3, 3]}
objectives: {error: minimize, cost: minimize}
select: {minimize: error, where: "cost <= 1"}
n_trials: 8
seed: 0
tracking: %s
"""


@pytest.fixture
def browser(tmp_path):
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if missing:
        pytest.skip(
            f"no browser test: {', '.join(missing)} not installed "
            "(Debian packages chromium and chromium-driver; `make test` installs them as root)"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="no browser test: selenium not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # No sandbox (tests may run as root); no background connections (the machine is offline).
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1600,1000",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def _wait(driver, find, what, timeout=60.0):
    """Poll ``find(driver)`` until it returns something truthy; fail with a screenshot."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = find(driver)
        except Exception:  # the page is still rendering (stale or missing elements)
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            _screenshot(driver, "failed")
            pytest.fail(f"the MLflow UI did not show {what} within {timeout:.0f} s")
        time.sleep(0.25)


def _click(driver, xpath, what):
    """Click the first shown element at ``xpath``, once the page lets it be clicked."""

    def click(d):
        for element in d.find_elements("xpath", xpath):
            if element.is_displayed():
                element.click()  # "not interactable" while the tree still unfolds: polled again
                return True
        return False

    _wait(driver, click, what)


def _screenshot(driver, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"browser-{name}.png"
    driver.save_screenshot(str(path))
    return path


def _serve_ui(spawn, workdir, port):
    """`hpo ui walkthrough`, up and answering; returns the process and the URL it printed.

    It ends with the test (``spawn``), its MLflow server with it, also when the test fails.
    """
    proc = spawn(
        [sys.executable, "-m", "hpo", "ui", "walkthrough", "--port", str(port)], cwd=workdir, stdout=subprocess.DEVNULL
    )
    url = ""
    while "open " not in url:
        line = proc.stderr.readline()
        assert line, "hpo ui ended before printing the URL"
        url = line if line.startswith("open ") else url
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc, url.split()[1]
        except OSError:
            assert proc.poll() is None, "hpo ui exited"
            assert time.monotonic() < deadline, "the MLflow UI did not come up"
            time.sleep(0.5)


def test_the_study_its_trials_and_its_plots_in_the_mlflow_ui(
    browser, workdir, tracking_uri, mlflow_client, monkeypatch, spawn
):
    from selenium.webdriver.common.by import By

    monkeypatch.setenv("HPO_PLOTS", "1")  # the default outside the tests

    (workdir / "ui_objective.py").write_text(OBJECTIVE)
    (workdir / "walkthrough.yaml").write_text(CONFIG % tracking_uri)
    run = hpo_cli("run", "walkthrough.yaml", "-q", cwd=workdir, timeout=300)
    assert run.returncode == 0, run.stderr
    (workdir / "ui_pareto.py").write_text(PARETO_OBJECTIVE)
    (workdir / "pareto.yaml").write_text(PARETO_CONFIG % tracking_uri)
    run = hpo_cli("run", "pareto.yaml", "-q", cwd=workdir, timeout=300)
    assert run.returncode == 0, run.stderr
    index = yaml.safe_load((workdir / ".hpo" / "walkthrough" / "study.yaml").read_text())
    experiment, parent_id = index["mlflow"]["experiment_id"], index["mlflow"]["run_id"]
    parents, children = study_runs(mlflow_client, "walkthrough")
    assert [p.info.run_id for p in parents] == [parent_id] and len(children) == 6
    [pareto_parent], pareto_children = study_runs(mlflow_client, "walkthrough-pareto")

    port = free_port()
    _, url = _serve_ui(spawn, workdir, port)
    base = f"http://127.0.0.1:{port}"
    assert url == f"{base}/#/experiments/{experiment}/runs/{parent_id}?workflowType=machine_learning"

    # The experiment page: the parent run, and once expanded, its nested trial runs.
    browser.get(f"{base}/#/experiments/{experiment}?workflowType=machine_learning")
    parent_link = f"//a[contains(@href, '/runs/{parent_id}')]"
    _wait(browser, lambda d: d.find_elements(By.XPATH, parent_link), "the parent run")
    assert browser.find_element(By.XPATH, parent_link).text == "walkthrough"
    _click(browser, f"{parent_link}/ancestor::div[@role='gridcell']//button", "the parent run's expander")
    child_ids = {c.info.run_id for c in children}
    shown = _wait(
        browser,
        lambda d: (
            {
                a.get_attribute("href").rsplit("/", 1)[-1]: a.text
                for a in d.find_elements(By.XPATH, "//a[contains(@href, '/runs/')]")
                if a.get_attribute("href").rsplit("/", 1)[-1] in child_ids
            }
            if len(d.find_elements(By.XPATH, "//a[contains(@href, '/runs/')]")) >= 7
            else None
        ),
        "the trial runs under the parent",
    )
    assert set(shown) == child_ids
    assert sorted(shown.values()) == [f"trial-{n}" for n in range(6)]
    print("screenshot:", _screenshot(browser, "experiment"))

    # The parent run's artifacts: the summary and the plots, and a plot opens.
    browser.get(url.replace("?", "/artifacts?"))
    for name in ("summary.md", "best_params.yaml", "trials.csv", "plots"):
        _wait(browser, lambda d, name=name: d.find_elements(By.XPATH, f"//*[text()='{name}']"), name)
    _click(browser, "//*[text()='plots']", "the plots folder, clickable")
    for plot in (p for p in PLOTS if p != "pareto"):  # one objective: no front
        for ext in ("html", "png"):
            _wait(
                browser,
                lambda d, f=f"{plot}.{ext}": d.find_elements(By.XPATH, f"//*[text()='{f}']"),
                f"plots/{plot}.{ext}",
            )
    _click(browser, "//*[text()='history.png']", "history.png, clickable")
    loaded = "return [...document.images].filter(i => i.complete && i.naturalWidth >= 400).length"
    _wait(browser, lambda d: d.execute_script(loaded), "the history plot, decoded")
    print("screenshot:", _screenshot(browser, "plots"))

    # The multi-objective study's parent run: pareto.csv, and the Pareto plot opens.
    pareto_url = f"{base}/#/experiments/{pareto_parent.info.experiment_id}/runs/{pareto_parent.info.run_id}/artifacts"
    browser.get(pareto_url)
    for name in ("pareto.csv", "summary.md", "plots"):
        _wait(browser, lambda d, name=name: d.find_elements(By.XPATH, f"//*[text()='{name}']"), name)
    _click(browser, "//*[text()='plots']", "the plots folder, clickable")
    _wait(browser, lambda d: d.find_elements(By.XPATH, "//*[text()='pareto.html']"), "plots/pareto.html")
    _click(browser, "//*[text()='pareto.png']", "pareto.png, clickable")
    _wait(browser, lambda d: d.execute_script(loaded), "the Pareto plot, decoded")
    print("screenshot:", _screenshot(browser, "pareto"))
    front = {int(r.data.tags["hpo.trial_number"]) for r in pareto_children if r.data.tags.get("hpo.pareto") == "true"}
    assert front and len(front) < len(pareto_children)
