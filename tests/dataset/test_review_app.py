"""The review App in a real browser: ``vidal review`` serves FiftyOne's App, headless Chromium
(Debian's ``chromium``, driven by Playwright) shows the mined samples, and an edit made in the
App's Annotate tab lands in ``ground_truth`` and survives the next push."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidal.cli import app
from vidal.dataset import push_run
from vidal.dataset.schema import fingerprint

from conftest import SAMPLE_MODEL, SAMPLE_VIDEO

CHROMIUM = Path(os.environ.get("VIDAL_CHROMIUM", "/usr/bin/chromium"))
# The flags that let Chromium run as root on a machine with no GPU and a closed network.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
    "--no-first-run", "--disable-component-update", "--disable-sync",
]
pytestmark = [
    pytest.mark.fiftyone,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("VIDAL_REQUIRE_BROWSER"),
        reason=f"{CHROMIUM} absent (apt-get install chromium)",
    ),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def save_screenshot(page, tmp_path: Path, name: str) -> None:
    """Screenshots go to the test's folder, and to $VIDAL_SCREENSHOTS (the README's) when set."""
    page.screenshot(path=str(tmp_path / name))
    if os.environ.get("VIDAL_SCREENSHOTS"):
        target = Path(os.environ["VIDAL_SCREENSHOTS"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / name, target / name)


def dismiss_banners(page) -> None:
    """Close FiftyOne's promotional pop-up if it shows (it covers part of the grid)."""
    try:
        page.get_by_text("Dismiss", exact=True).click(timeout=3000)
    except Exception:  # noqa: BLE001 - the pop-up does not always show
        pass


@pytest.fixture
def review_server(fo, dataset_name: str, tmp_path: Path):
    result = CliRunner().invoke(
        app,
        ["mine", str(SAMPLE_VIDEO), "--model", str(SAMPLE_MODEL), "--end", "120", "--budget", "6",
         "--out", str(tmp_path / "runs"), "--dataset", dataset_name],
    )
    assert result.exit_code == 0, result.output
    port = free_port()
    # Output goes to a file, not pipes: FiftyOne's server inherits them for as long as it runs,
    # a pipe nobody reads can fill and block it, and a failure shows the whole log.
    log = tmp_path / "review.log"
    # A shell that starts the tests in the background (`.ci/run &`) ignores SIGINT, and a child
    # inherits that: Ctrl-C would not reach `vidal review`. A handler is not inherited; the
    # child starts with the default, as from a terminal.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with open(log, "w") as handle:
            proc = subprocess.Popen(
                [sys.executable, "-m", "vidal.cli", "review", "--dataset", dataset_name, "--port", str(port)],
                stdout=handle, stderr=subprocess.STDOUT, text=True,
            )
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 120
    while True:
        # FiftyOne may print lines of its own (a blank one) before vidal's URL
        line = next((x for x in log.read_text().splitlines() if x.startswith("FiftyOne App: ")), "")
        if line or proc.poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert line, log.read_text()
    url = line.split(": ", 1)[1].strip()
    assert url == f"http://localhost:{port}/"
    yield url, proc, tmp_path / "runs" / "crossing", log
    if proc.poll() is None:
        proc.kill()


def test_review_app_shows_samples_and_saves_an_edit(fo, dataset_name: str, tmp_path: Path, review_server) -> None:
    from playwright.sync_api import sync_playwright

    url, proc, run, log = review_server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        deadline = time.monotonic() + 60
        while True:  # the App's server answers a few seconds after the URL is printed
            try:
                page.goto(url, wait_until="domcontentloaded")
                break
            except Exception:  # noqa: BLE001
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        page.get_by_text("6 samples").wait_for(timeout=90_000)
        dismiss_banners(page)
        assert page.get_by_text(dataset_name, exact=True).count() >= 1  # the header names the dataset
        body = page.inner_text("body")
        assert "to-review" in body
        for field in ("predictions", "ground_truth", "suspect_regions", "uncertainty", "reasons"):
            assert field in body
        page.wait_for_timeout(2000)  # let the grid draw its boxes
        save_screenshot(page, tmp_path, "review-grid.png")

        # Open the most uncertain sample and correct a box's class in the Annotate tab.
        page.locator("canvas").first.click()
        page.get_by_text("Annotate", exact=True).first.click()
        page.get_by_text("Edit", exact=True).wait_for(timeout=30_000)
        dataset = fo.load_dataset(dataset_name)
        top = dataset.load_saved_view("to-review").first()
        before = {str(d.id): d.label for d in top.ground_truth.detections}
        page.get_by_text("person", exact=True).first.click()
        page.get_by_text("Edit Detection").wait_for(timeout=30_000)
        dismiss_banners(page)
        save_screenshot(page, tmp_path, "review-annotate.png")
        page.get_by_text("robot", exact=True).last.click()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            top.reload()
            after = {str(d.id): d.label for d in top.ground_truth.detections}
            if after != before:
                break
            time.sleep(0.5)
        browser.close()
    changed = [k for k in before if after.get(k) != before[k]]
    assert len(changed) == 1 and after[changed[0]] == "robot" and before[changed[0]] == "person"
    edited = fingerprint(top.ground_truth)

    # The edit survives pushing the run again (the draft was edited: it is never overwritten).
    report = push_run(run, dataset_name)
    assert report.protected >= 1
    top.reload()
    assert fingerprint(top.ground_truth) == edited

    # Ctrl-C stops the App cleanly.
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("vidal review still running 60 s after Ctrl-C; it printed:\n" + log.read_text())
    assert code == 0, log.read_text()
    # Connecting a browser made FiftyOne warn three times about App options it removed itself.
    assert "App config option has been removed" not in log.read_text(), log.read_text()
