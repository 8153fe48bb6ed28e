"""Headless Chromium for the UI tests: Debian's /usr/bin/chromium driven by Playwright (no downloaded browser)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process group we started, SIGKILL after 20 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def click_node(page: Any, node: Any) -> None:
    """Clicks a node of the lineage graph once the view has been fitted to the pane: each fit moves every node,
    and a click dispatched just before one lands where the node no longer is."""
    page.locator("[data-testid=graph][data-settled=true]").wait_for()
    node.click()


@contextmanager
def chromium_page(base: str, token: str | None = None,
                  color_scheme: str = "light") -> Iterator[tuple[Any, list[str]]]:
    """(page, dialogs): a fresh page with Airflow's `_token` cookie set; `dialogs` collects any alert/confirm that
    fired (each is dismissed). Console errors and page errors are printed, to explain a failure. `color_scheme`
    is the browser's preference (Airflow's theme and the standalone page follow it)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1500, "height": 950}, color_scheme=color_scheme)
            if token:
                context.add_cookies([{"name": "_token", "value": token, "url": base}])
            page = context.new_page()
            page.set_default_timeout(30_000)
            dialogs: list[str] = []

            def on_dialog(dialog: Any) -> None:
                dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)
            page.on("pageerror", lambda exc: print("page error:", exc))
            page.on("console", lambda msg: msg.type == "error" and print("console error:", msg.text))
            yield page, dialogs
        finally:
            browser.close()



def luminance(locator: Any, prop: str = "backgroundColor") -> float:
    """0 (black) .. 1 (white): an element's computed colour (`prop`), drawn on a canvas to get sRGB whatever the
    notation (the themes use oklch)."""
    return locator.evaluate("""(e, prop) => {
        const c = document.createElement("canvas").getContext("2d", { willReadFrequently: true });
        c.fillStyle = getComputedStyle(e)[prop];
        c.fillRect(0, 0, 1, 1);
        const [r, g, b] = c.getImageData(0, 0, 1, 1).data;
        return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
    }""", prop)
