"""Browser check: headless Chromium opens the application through its published port.

Why in the chaos suite: the report of a run shows, beside the probes' numbers, what a user's
browser showed; the screenshot is attached to the run's results and embedded by the report.
"""

from __future__ import annotations

import urllib.request

import pytest

from chaos.report import ResultsFile
from chaos.scenario import PROJECT, ChaosLab
from lab.browser import PNG_MAGIC, chromium_binary, screenshot
from lab.paths import stack_dir
from lab.status import APP_WORKS

pytestmark = pytest.mark.chaos


def test_browser_sees_the_application(chaos_lab: ChaosLab, results: ResultsFile) -> None:
    if chromium_binary() is None:
        pytest.skip("the browser check needs Chromium (Debian package `chromium`)")
    chaos_lab.ensure_up()
    lab = chaos_lab.lab
    url = lab.probe.app_url()
    request = urllib.request.Request(url, headers={"Accept": "text/html"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        html = resp.read().decode()
    # what each application's front page shows when it works (Chamilo's home page reads the
    # platform settings from the database, and says so with HTTP 200 when it can't)
    marker = APP_WORKS[lab.plan.app_kind].decode()
    assert resp.status == 200 and marker in html, html[:500]
    run_dir = stack_dir(PROJECT) / "results" / results.run_id
    png = screenshot(url, run_dir / "app-healthy.png")
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5000, "a blank page makes a tiny PNG"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 800)
    results.add_screenshot(f"{lab.plan.app_kind} app, healthy lab", png)
    results.save(run_dir / "results.json")
