"""Headless Chromium opening the application through its published port, for the report.

Why a real browser: the HTTP probe proves the app answers; a screenshot shows a person what a
user of the app saw (the page, or the error) at that moment. Chromium is pointed at a dead
local proxy for everything but loopback, so it can't send traffic off the machine, and its
background services (updates, sync, metrics) are switched off.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from lab.errors import LabError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def chromium_binary() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def screenshot(url: str, out: Path, width: int = 1280, height: int = 800, timeout: float = 60.0) -> Path:
    """Load `url` in headless Chromium and save a PNG of the viewport to `out`."""
    binary = chromium_binary()
    if binary is None:
        raise LabError("the browser check needs Chromium: `apt-get install chromium`")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    cmd = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-default-apps", "--disable-domain-reliability",
        "--metrics-recording-only", "--no-pings", "--dns-prefetch-disable",
        # loopback is never proxied; anything else goes to a closed local port and fails
        "--proxy-server=http://127.0.0.1:9",
        f"--window-size={width},{height}", f"--screenshot={out}", url,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LabError(f"Chromium did not finish loading {url} within {timeout:.0f} s") from None
    if not out.is_file() or out.read_bytes()[:8] != PNG_MAGIC:
        raise LabError(f"Chromium made no screenshot of {url}: {proc.stderr.strip()[-300:]}")
    return out
