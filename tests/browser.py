"""Open a local HTML file in real headless Chromium (Debian's) with the network shut off, and see what it did.

Every request that is not for a local file is recorded and aborted, console errors and uncaught page errors
are collected, and a screenshot is saved.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@dataclass
class PageVisit:
    text: str
    console_errors: list[str]
    outside_requests: list[str]
    screenshot: Path


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def visit(html_path: Path, screenshot: Path, settle_ms: int = 3000) -> PageVisit:
    """Load the page offline, let its scripts run, and return its text, errors, outside requests, screenshot."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    outside: list[str] = []

    def route(r):
        if r.request.url.startswith(("file:", "data:", "blob:", "about:")):
            return r.continue_()
        outside.append(r.request.url)
        return r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
        page.route("**/*", route)
        page.goto(html_path.resolve().as_uri())
        page.wait_for_timeout(settle_ms)
        page.screenshot(path=str(screenshot), full_page=False)
        text = page.inner_text("body")
        browser.close()
    return PageVisit(text=text, console_errors=errors, outside_requests=outside, screenshot=screenshot)
