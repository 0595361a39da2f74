"""The Dagster UI in a real browser: `dagster dev` on a temporary instance (the repository's dagster.yaml) and a
temporary warehouse, driven through Debian's Chromium and chromedriver with selenium.

Screenshots are kept in tests/artifacts/ui/ (git-ignored); each test prints the paths of its own."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml
from conftest import MODEL_CACHE
from pipeline_runs import PIPELINE_ASSET_NAMES
from ports import free_port
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait
from tiny_models import save_tiny_model
from warehouse_checks import start_in_session

from pipelines.defs.ingest.assets import items
from pipelines.defs.jobs import MINING_ASSETS
from pipelines.defs.resources import pipeline_resources
from pipelines.defs.scoring.assets import base_scores, choice_scores

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts" / "ui"
# Headless Chromium as root in a closed network: no sandbox, no GPU, and none of its own background traffic.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1600,1000",
]
STARTUP_LIMIT = 300  # seconds; safety limits only, nothing asserts on speed
RUN_LIMIT = 300


class Server:
    """A `dagster dev` process serving the project's definitions from a temporary DAGSTER_HOME."""

    def __init__(self, home: Path, db: Path, port: int, process: subprocess.Popen, log: Path):
        self.home, self.db, self.port, self.process, self.log = home, db, port, process, log
        self.url = f"http://127.0.0.1:{port}"

    def graphql(self, query: str) -> dict:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["data"]

    def wait_until(self, ready: Callable[[], bool], what: str, limit: float = STARTUP_LIMIT) -> None:
        deadline = time.monotonic() + limit
        while True:
            if self.process.poll() is not None:
                pytest.fail(
                    f"dagster dev exited ({self.process.returncode}) while waiting for {what}:\n"
                    f"{self.log.read_text()[-3000:]}"
                )
            try:
                if ready():
                    return
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                pytest.fail(f"dagster dev: no {what} within {limit} s:\n{self.log.read_text()[-3000:]}")
            time.sleep(1)

    def stop(self) -> None:
        """SIGINT to the server's process group (webserver, daemon, code server, runs), SIGKILL if it lingers."""
        try:
            os.killpg(self.process.pid, signal.SIGINT)
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass


def _location_loaded(server: Server) -> bool:
    data = server.graphql(
        "{ workspaceOrError { ... on Workspace { locationEntries { name "
        "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
    )
    for entry in data["workspaceOrError"]["locationEntries"]:
        loaded = entry["locationOrLoadError"]
        if entry["name"] == "likra" and loaded and loaded["__typename"] == "PythonError":
            pytest.fail(f"the code location did not load: {loaded['message']}")
        if entry["name"] == "likra" and loaded and loaded["__typename"] == "RepositoryLocation":
            return True
    return False


def _has_demo_partition(server: Server) -> bool:
    data = server.graphql('{ assetNodeOrError(assetKey: {path: ["items"]}) { ... on AssetNode { partitionKeys } } }')
    return "demo" in data["assetNodeOrError"]["partitionKeys"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`dagster dev` on a free port, with the repository's dagster.yaml in a fresh DAGSTER_HOME (also its working
    directory, which the file's relative paths are resolved against) and a fresh warehouse."""
    home = tmp_path_factory.mktemp("dagster-home")
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    (home / "workspace.yaml").write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {
                        "python_module": {
                            "module_name": "pipelines.definitions",
                            "location_name": "likra",
                            "working_directory": str(REPO),
                        }
                    }
                ]
            }
        )
    )
    db = home / "warehouse.duckdb"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LIKRA_BENCHMARKS_DIR", "LIKRA_MINING_CONFIG", "LIKRA_TRAIN_CONFIG")
    }
    env.update(
        DAGSTER_HOME=str(home),
        LIKRA_DB=str(db),
        HF_HUB_OFFLINE="1",
        LIKRA_MODEL_CACHE=str(MODEL_CACHE),
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
    )
    port, log = free_port(), home / "dagster-dev.log"
    with log.open("w") as out:
        process = start_in_session(
            [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            out,
            cwd=home,
            env=env,
        )
    running = Server(home, db, port, process, log)
    try:
        running.wait_until(lambda: _location_loaded(running), "loaded code location")
        # The partitions sensor runs by default and adds every built-in benchmark, `demo` among them.
        running.wait_until(lambda: _has_demo_partition(running), "`demo` partition from the partitions sensor")
        yield running
    finally:
        running.stop()


class Browser:
    """Chromium on the server's pages, with waits that fail with a screenshot."""

    def __init__(self, driver: webdriver.Chrome, server: Server):
        self.driver, self.server = driver, server

    def open(self, path: str) -> None:
        self.driver.get(self.server.url + path)

    def screenshot(self, name: str) -> Path:
        try:  # dialogs fade in: let running animations finish first
            WebDriverWait(self.driver, 10, poll_frequency=0.2).until(
                lambda d: not d.execute_script("return document.getAnimations().some(a => a.playState === 'running')")
            )
        except TimeoutException:
            pass  # an endless animation (a spinner) does not keep the screenshot from being taken
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        self.driver.save_screenshot(str(path))
        print(f"screenshot: {path}")
        return path

    def wait_for(self, find: Callable[[], WebElement | bool | None], what: str, limit: float = 60):
        try:
            return WebDriverWait(
                self.driver, limit, poll_frequency=0.5, ignored_exceptions=(StaleElementReferenceException,)
            ).until(lambda _: find())
        except TimeoutException:
            shot = self.screenshot(f"timeout-{what.replace(' ', '-')[:60]}.png")
            pytest.fail(f"{what}: not shown within {limit} s (screenshot {shot})")

    def visible(self, xpath: str, within: WebElement | None = None) -> list[WebElement]:
        return [e for e in (within or self.driver).find_elements(By.XPATH, xpath) if e.is_displayed()]

    def element(self, xpath: str, what: str, limit: float = 60) -> WebElement:
        return self.wait_for(lambda: next(iter(self.visible(xpath)), None), what, limit)

    def text(self, text: str, limit: float = 60) -> WebElement:
        return self.element(_text_xpath(text), f"text {text!r}", limit)

    def click(self, xpath: str, what: str, limit: float = 60, pick: int = 0) -> None:
        """Click visible match number `pick`, finding it again while the page re-renders it (a stale element)."""

        def found_and_clicked() -> bool:
            shown = self.visible(xpath)
            if shown:
                shown[pick].click()
            return bool(shown)

        self.wait_for(found_and_clicked, f"clicking {what}", limit)

    def click_text(self, text: str) -> None:
        self.click(_text_xpath(text), f"text {text!r}")

    def click_button(self, label: str) -> None:
        self.click(_button_xpath(label), f"button {label!r}")

    def body(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "body").text


@pytest.fixture(scope="module")
def browser(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.fail("the UI tests need Chromium and chromedriver: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        driver.get(server.url + "/server_info")
        driver.execute_script("localStorage.setItem('communityNux', '\"1\"')")  # the first-visit newsletter dialog
        yield Browser(driver, server)
    finally:
        driver.quit()


def _text_xpath(text: str) -> str:
    return f"//*[normalize-space(text())={json.dumps(text)}]"


def _button_xpath(label: str) -> str:
    return f"//button[starts-with(normalize-space(.), {json.dumps(label)})]"


def _markdown_dialog(browser: Browser, key: str) -> WebElement:
    """Open the markdown metadata entry `key` of the asset page's metadata table in its dialog."""
    browser.click(
        f"//tr[.//*[normalize-space(text())={json.dumps(key)}]]//*[normalize-space(text())='[Show Markdown]']",
        f"{key} metadata",
    )
    return browser.element(f"//*[@role='dialog'][.//*[normalize-space(text())={json.dumps(key)}]]", f"{key} dialog")


def test_the_asset_graph_shows_every_pipeline_asset_in_its_group(browser: Browser) -> None:
    browser.open("/asset-groups")
    for group in ("ingest", "scoring", "mining", "likra", "experiments"):
        browser.text(group, limit=120)
    graph_settings = "//button[not(normalize-space(.))][.//*[@aria-label='settings']]"
    browser.click(graph_settings, "graph settings", pick=-1)
    browser.click_text("Expand all groups")
    browser.click_button("Hide navigation")

    for name in PIPELINE_ASSET_NAMES:
        browser.text(name)
    browser.screenshot("asset-graph.png")
    # dagster.yaml turns the first-visit dialog off, so the UI leaves no `.nux/` marker in DAGSTER_HOME (the repo).
    assert not (browser.server.home / ".nux").exists()


def test_the_items_page_lists_its_columns_with_their_descriptions(browser: Browser) -> None:
    browser.open("/assets/items")

    # The table renders in steps (names, then types and descriptions): wait for the cells, not the row.
    description = "<benchmark>/<split>/[<subset>/]<source_id>"
    item_id = "//tr[.//*[normalize-space(text())='item_id']]"
    browser.wait_for(lambda: any(description in row.text for row in browser.visible(item_id)), "item_id's description")
    browser.element("//tr[.//*[normalize-space(text())='choices']][.//*[contains(., 'VARCHAR[]')]]", "choices' type")
    browser.screenshot("items-columns.png")


def test_a_partition_launched_from_the_ui_succeeds_and_shows_its_row_count_and_preview(browser: Browser) -> None:
    browser.open("/assets/items")
    browser.click_button("Materialize")
    browser.click("//*[normalize-space(text())='Select a partition or create one']", "partition selector")
    browser.element("//input[@placeholder='Filter partitions']", "partition filter").send_keys("demo")
    browser.click_text("demo")
    browser.click_text("Launch runs to materialize items")  # closes the partition list
    browser.wait_for(lambda: not browser.visible("//input[@placeholder='Filter partitions']"), "the list closing")
    browser.screenshot("launch-demo-partition.png")
    browser.click_button("Launch 1 run")

    browser.wait_for(
        lambda: not browser.visible("//*[normalize-space(text())='Launch runs to materialize items']"),
        "the launch dialog closing",
    )  # the run is submitted

    browser.open("/runs")
    browser.click(
        "//a[contains(@href, '/runs/') and string-length(substring-after(@href, '/runs/')) = 36]", "the launched run"
    )
    status = browser.element(
        "//*[normalize-space(text())='Success' or normalize-space(text())='Failure' or "
        "normalize-space(text())='Canceled']",
        "the run's end",
        limit=RUN_LIMIT,
    ).text
    browser.screenshot("demo-run.png")
    assert status == "Success"

    browser.open("/assets/items?partition=demo")
    browser.wait_for(lambda: "Row count\n40" in browser.body(), "a row count of 40")
    dialog = _markdown_dialog(browser, "preview")
    browser.wait_for(lambda: len(dialog.find_elements(By.XPATH, ".//table/tbody/tr")) == 5, "the preview's 5 rows")
    headers = [cell.text for cell in dialog.find_elements(By.XPATH, ".//table//th")]
    rows = dialog.find_elements(By.XPATH, ".//table/tbody/tr")
    browser.screenshot("items-preview.png")
    assert headers == ["item", "prompt", "gold", "other choices"]
    assert len(rows) == 5 and rows[0].text.startswith("demo/test/demo-001")


def test_the_graded_negatives_page_renders_the_histogram_of_a_mining_run(
    browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = str(save_tiny_model(tmp_path / "tiny-llama"))
    monkeypatch.chdir(browser.server.home)  # dagster.yaml's relative paths: the server's working directory
    run_config = {
        "ops": {"base_scores": {"config": {"model": model}}},
        "resources": {"mining": {"config": {"scorer_model": model, "k": 3}}},
    }
    with dg.DagsterInstance.from_config(str(browser.server.home)) as instance:
        mined = dg.materialize(
            [items, base_scores, choice_scores, *MINING_ASSETS],
            partition_key="demo",
            instance=instance,
            resources=pipeline_resources(str(browser.server.db)),
            run_config=run_config,
        )
    assert mined.success

    browser.open("/assets/graded_negatives?partition=demo")
    browser.text("Row count")
    dialog = _markdown_dialog(browser, "histograms")
    plot = browser.wait_for(
        lambda: next(
            (
                img
                for img in browser.visible(".//img", dialog)
                if browser.driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img)
            ),
            None,
        ),
        "the histogram image",
    )
    browser.screenshot("graded-negatives-histogram.png")
    assert plot.get_attribute("src").startswith("data:image/png;base64,")
    assert plot.get_attribute("alt") == "similarity and plausibility by tier"
