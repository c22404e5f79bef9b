"""Debian's chromium driven by Playwright, for the browser tests (never a downloaded browser)."""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Zora

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# What the browser tests need from Debian beyond a minimal install: the browser, and libatomic1 for the
# Node.js that Playwright's driver bundles (a minimal Debian lacks it). The Makefile installs the same list.
BROWSER_DEBS = "chromium libatomic1"
INSTALL_HINT = f"`apt-get install {BROWSER_DEBS}` gives what they need (`make test` does it when run as root)"
NO_BROWSER = f"no browser: {INSTALL_HINT}"


def driver_node() -> Path:
    """The Node.js executable Playwright's driver runs on (the same choice Playwright makes)."""
    import playwright

    override = os.environ.get("PLAYWRIGHT_NODEJS_PATH")
    return Path(override) if override else Path(playwright.__file__).parent / "driver" / "node"


def driver_problem(node: Path) -> str | None:
    """Why Playwright's driver cannot start on this machine, or None when it can. A missing shared
    library would otherwise surface as an error in every browser test instead of one clear skip."""
    try:
        done = subprocess.run([str(node), "--version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"Playwright's driver ({node}) cannot start: {e}; {INSTALL_HINT}"
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()
        # The loader's message names the executable and the missing library.
        return f"Playwright's driver cannot start: {said[-1] if said else f'{node}: exit {done.returncode}'}; {INSTALL_HINT}"
    return None


@functools.cache
def browser_unavailable() -> str | None:
    """The reason the browser tests must skip here, or None when Debian's chromium and Playwright's
    driver are both usable. Checked once per session."""
    if not CHROMIUM.exists():
        return NO_BROWSER
    try:
        node = driver_node()
    except ImportError:
        return "Playwright is not installed: run `make setup`"
    return driver_problem(node)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if reason := browser_unavailable():
        pytest.skip(reason)
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def context(zora: Zora, browser: Any) -> AsyncIterator[Any]:
    """An English-speaking browser context; with ZORA_SCREENSHOTS set, its last page is saved there."""
    ctx = await browser.new_context(locale="en-US")
    try:
        yield ctx
    finally:
        if os.environ.get("ZORA_SCREENSHOTS") and ctx.pages:
            await ctx.pages[-1].screenshot(path=os.environ["ZORA_SCREENSHOTS"])
        await ctx.close()


async def open_store(zora: Zora, page: Any) -> None:
    """The demo storefront of Zora's shop, once the widget is ready."""
    await page.goto(f"{zora.base_url}/demo?shop={zora.shop}")
    await page.evaluate("window.Zora.ready")
