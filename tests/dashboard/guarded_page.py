"""One Chromium page for a browser test that only reaches 127.0.0.1: every other request is
aborted and fails the test, and so does any console or page error. The views' own test
files use it instead of each building the same guard."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from tests.dashboard.test_browser import ARGS, CHROMIUM, TIMEOUT_MS


@contextlib.contextmanager
def guarded_page(expected_errors: tuple[str, ...] = ()) -> Iterator[tuple[Any, list[str]]]:
    """(page, every URL it requested); checks on exit that none left loopback and that the
    page logged no error but those containing one of ``expected_errors`` (a page a test
    opens to see it answer 404 logs that)."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    outside: list[str] = []
    seen: list[str] = []

    def guard(route: Any) -> None:
        url = urlsplit(route.request.url)
        seen.append(route.request.url)
        if url.scheme in ("data", "blob") or url.hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 1000})
            context.route("**/*", guard)
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page, seen
        finally:
            browser.close()
    assert not outside, f"the page made requests leaving 127.0.0.1: {outside}"
    errors = [e for e in errors if not any(x in e for x in expected_errors)]
    assert not errors, f"console errors: {errors}"
