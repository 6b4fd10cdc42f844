"""Shared browser fixtures for tests that drive a real headless browser: Debian's chromium (/usr/bin/chromium,
installed by `make browser`) through Playwright, with no browser download.

    from browser import browser, page  # noqa: F401  (pytest fixtures)

    def test_something(page):
        page.goto(url)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = os.environ.get("DISTILKIT_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"no browser at {CHROMIUM}; run `make browser` (apt-get install chromium)")
    with sync_playwright() as playwright:
        # --no-sandbox: tests run as root in CI containers, where chromium's sandbox cannot start
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox", "--disable-gpu"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page in its own context; console errors and failed requests are kept on `page.problems`."""
    context = browser.new_context()
    opened = context.new_page()
    opened.problems = []
    opened.on("console", lambda message: message.type == "error" and opened.problems.append(message.text))
    opened.on("pageerror", lambda error: opened.problems.append(str(error)))
    opened.on("requestfailed", lambda request: opened.problems.append(f"request failed: {request.url}"))
    try:
        yield opened
    finally:
        context.close()
