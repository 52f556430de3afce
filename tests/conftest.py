"""Shared test helpers: comparison at printed precision and tool requirements that fail under CI."""

from __future__ import annotations

import os
import shutil
import threading

import pytest

from tutor.spec.rounding import format_fixed

IN_CI = os.environ.get("CI") == "true"

# Scripts that record a framework's results need that framework (torch); they are run by hand or loaded by
# tests.support.recording, never imported by --doctest-modules, so a machine without torch collects the suite.
collect_ignore_glob = ["record_*.py", "data/record_*.py"]


def decimals(printed: str) -> int:
    return len(printed.split(".")[1]) if "." in printed else 0


def at_printed(value: float, printed: str) -> bool:
    """True when ``value`` rounded half away from zero to the printed decimals reads as ``printed``."""
    return format_fixed(value, decimals(printed)) == printed


def require_program(name: str) -> str:
    """The program's path; a missing program skips locally and fails in CI (never a silent skip there)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if IN_CI:
            pytest.fail(message + " (CI must install it: see .ci/run)")
        pytest.skip(message)
    return path


# -- Walk-through handouts (tests/test_render.py): golden files --------------------------------------------
# Regenerate tests/golden/ after an intended change of the output:  python -m pytest tests/test_render.py --regen-golden


def pytest_addoption(parser):
    parser.addoption(
        "--regen-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/ from the current renderers instead of comparing with it",
    )


@pytest.fixture
def regen_golden(request) -> bool:
    return bool(request.config.getoption("--regen-golden"))


# -- Walk-through handouts: compiling LaTeX and opening HTML as CI does -------------------------------------

PDFLATEX = ["-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape"]
CHROMIUM = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pdf_pages(tex: str, folder, overfull: bool = False, first: int | None = None) -> list:
    """Compile ``tex`` with pdflatex (twice, as longtable needs), assert a clean log (no line wider than the
    page unless ``overfull``), and turn every page (the ``first`` pages) into a PNG with pdftoppm; returns the
    PNG paths."""
    import subprocess
    from pathlib import Path

    pdflatex, pdftoppm = require_program("pdflatex"), require_program("pdftoppm")
    folder = Path(folder)
    (folder / "doc.tex").write_text(tex, encoding="utf-8")
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}
    for _ in range(2):
        proc = subprocess.run(
            [pdflatex, *PDFLATEX, "doc.tex"],
            cwd=folder,
            env=env,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=180,
        )
        log = (folder / "doc.log").read_text(encoding="utf-8", errors="replace")
        errors = [line for line in log.splitlines() if line.startswith("!")]
        assert proc.returncode == 0, errors[:3]
    assert "Undefined control sequence" not in log
    assert overfull or "Overfull \\hbox" not in log, "a line is wider than the page"
    some = ["-l", str(first)] if first else []
    subprocess.run([pdftoppm, "-r", "40", *some, "-png", "doc.pdf", "page"], cwd=folder, check=True, timeout=180)
    pages = sorted(folder.glob("page*.png"))
    assert pages and all(p.stat().st_size > 2000 for p in pages)
    return pages


# One headless Chromium a process takes every screenshot in (under Selenium), started at the first and quit when
# the session ends: a Chromium started a page took some 0.7 s of CPU each, over thirty times a full run.
_SHOOTER: list = []
_SHOOTING = threading.Lock()  # one page at a time in the one browser (a test may call from threads)


def _shooter():
    if not _SHOOTER:
        try:
            from selenium import webdriver
            from selenium.webdriver.chrome.options import Options
            from selenium.webdriver.chrome.service import Service
        except ImportError:
            message = "selenium is not installed"
            if IN_CI:
                pytest.fail(message + " (CI installs it with the test extra: see .ci/run)")
            pytest.skip(message)
        options = Options()
        options.binary_location = require_program("chromium")
        for flag in (*CHROMIUM, "--window-size=1200,3000", "--hide-scrollbars"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(require_program("chromedriver")))
        # the page is laid out and captured at exactly 1200 x 3000 CSS pixels, as `chromium --screenshot` did
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1200, "height": 3000, "deviceScaleFactor": 1, "mobile": False},
        )
        _SHOOTER.append(driver)
    return _SHOOTER[0]


def pytest_sessionfinish(session):
    while _SHOOTER:
        _SHOOTER.pop().quit()


def screenshot(html: str, folder):
    """Open ``html`` in headless Chromium from a file (no server) and return the screenshot's path."""
    import base64
    from pathlib import Path

    folder = Path(folder)
    page, png = folder / "page.html", folder / "shot.png"
    page.write_text(html, encoding="utf-8")
    with _SHOOTING:
        driver = _shooter()
        driver.get(page.as_uri())
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        driver.get("about:blank")  # the next page starts from nothing of this one
    png.write_bytes(base64.b64decode(shot["data"]))
    assert png.is_file(), "Chromium wrote no screenshot"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1200, 3000)
    assert len(data) > 30_000, "the screenshot is (nearly) blank"
    return png
