"""The browser behind the web recorder: Debian's chromium driven by BrowserGym's Playwright, offline.

Playwright only looks for its own browser build (`playwright install` downloads one: impossible
offline), at `$PLAYWRIGHT_BROWSERS_PATH/chromium-<revision>/chrome-linux/chrome`. We point that at
the system's chromium binary with a symlink in the project's cache folder (WEB.md). MiniWoB++'s pages
ship inside the `miniwob` wheel and are served from the file system (`MINIWOB_URL`).

    rlvr doctor     # says whether chromium is set up, and the one command that installs it
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/lib/chromium-browser/chromium-browser")  # the real binaries, not /usr/bin wrappers
INSTALL_HINT = "install the web world's browser with `apt-get install -y chromium` (as root; `make install` does it when it may)"
EXTRA_HINT = "install the web extra: `make install` (or `pip install -e '.[web]'`)"


class BrowserError(RuntimeError):
    """The web world's browser or packages are missing; the message names the command that installs them."""


def chromium_binary() -> str:
    """Path of the system's chromium executable (the binary, not the shell wrapper)."""
    override = os.environ.get("RLVR_CHROMIUM")
    if override:
        if not Path(override).is_file():
            raise BrowserError(f"RLVR_CHROMIUM={override} is not a file")
        return override
    for path in CANDIDATES:
        if Path(path).is_file():
            return path
    wrapper = shutil.which("chromium") or shutil.which("chromium-browser")
    if wrapper and shutil.which("dpkg"):
        listed = subprocess.run(["dpkg", "-L", "chromium"], capture_output=True, text=True).stdout.split()
        binaries = [p for p in listed if p.endswith("/chromium/chromium") and Path(p).is_file()]
        if binaries:
            return binaries[0]
    raise BrowserError(f"chromium not found; {INSTALL_HINT}")


def playwright_revision() -> str:
    """The chromium revision this Playwright build looks for."""
    try:
        import playwright
    except ImportError:
        raise BrowserError(f"playwright is not installed; {EXTRA_HINT}") from None
    browsers = json.loads((Path(playwright.__file__).parent / "driver/package/browsers.json").read_text())["browsers"]
    return next(b["revision"] for b in browsers if b["name"] == "chromium")


def miniwob_url() -> str:
    try:
        import miniwob
    except ImportError:
        raise BrowserError(f"miniwob is not installed; {EXTRA_HINT}") from None
    return f"file://{Path(miniwob.__file__).parent / 'html' / 'miniwob'}/"


def setup(cache_dir: str | Path | None = None) -> None:
    """Point Playwright at the system chromium and BrowserGym at the MiniWoB++ pages (idempotent)."""
    cache_dir = Path(cache_dir or os.environ.get("RLVR_CACHE_DIR", Path(__file__).resolve().parents[2] / ".cache"))
    link = cache_dir / "playwright-browsers" / f"chromium-{playwright_revision()}" / "chrome-linux" / "chrome"
    binary = chromium_binary()
    if not (link.is_symlink() and os.readlink(link) == binary):
        link.parent.mkdir(parents=True, exist_ok=True)
        tmp = link.with_name(f".chrome.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(binary)
        tmp.replace(link)  # atomic: parallel recorders may race here
    os.environ["PLAYWRIGHT_BROWSERS_PATH"] = str(link.parents[2])
    os.environ.setdefault("MINIWOB_URL", miniwob_url())
    try:
        import browsergym.core.env
        import browsergym.miniwob  # noqa: F401  (registers the browsergym/miniwob.* environments)
    except ImportError:
        raise BrowserError(f"browsergym-miniwob is not installed; {EXTRA_HINT}") from None
    browsergym.core.env.Chat = _NoChat


class _NoChat:
    """Stands in for BrowserGym's chat window (a second browser opened at every reset, for agents that
    talk to a user). A recorder has no user; without it a reset takes 0.85 s instead of 1.6 s."""

    def __init__(self, *args, **kwargs):
        self.messages: list[dict] = []

    def add_message(self, role: str, msg: str) -> None:
        self.messages.append({"role": role, "message": msg})

    def wait_for_user_message(self) -> None:
        pass

    def close(self) -> None:
        pass
