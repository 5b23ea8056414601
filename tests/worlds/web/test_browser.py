"""Finding the system's chromium for Playwright offline, and the message when it is missing."""

import os

import pytest

from worlds.web import browser


def test_setup_links_the_system_chromium_where_playwright_looks(tmp_path):
    browser.setup(tmp_path)
    link = tmp_path / "playwright-browsers" / f"chromium-{browser.playwright_revision()}" / "chrome-linux" / "chrome"
    assert link.is_symlink() and os.readlink(link) == browser.chromium_binary()
    assert os.environ["PLAYWRIGHT_BROWSERS_PATH"] == str(tmp_path / "playwright-browsers")
    assert os.environ["MINIWOB_URL"].startswith("file://") and os.environ["MINIWOB_URL"].endswith("/miniwob/")
    browser.setup(tmp_path)  # idempotent


def test_a_missing_browser_names_the_command_that_installs_it(monkeypatch, tmp_path):
    monkeypatch.setenv("RLVR_CHROMIUM", str(tmp_path / "nope"))
    with pytest.raises(browser.BrowserError, match="RLVR_CHROMIUM=.*nope is not a file"):
        browser.setup(tmp_path)
    monkeypatch.delenv("RLVR_CHROMIUM")
    monkeypatch.setattr(browser, "CANDIDATES", (str(tmp_path / "none"),))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(browser.BrowserError, match=r"chromium not found; install .* `apt-get install -y chromium`"):
        browser.chromium_binary()
