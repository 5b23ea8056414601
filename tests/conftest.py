"""Shared test helpers: where the real data lives (../shared/data beside the project)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
BYTESIZED32_TEST = SHARED_DATA / "bytesized32" / "test.zip"
BYTESIZED32_RULES = SHARED_DATA / "bytesized32" / "rules"


def require(path: Path) -> Path:
    """Skip (with the reason) when a real-data file is absent, e.g. on a user's machine."""
    if not path.exists():
        pytest.skip(f"real data not found at {path} (it lives in ../shared/data beside the project)")
    return path


@pytest.fixture(scope="session")
def bytesized32_rows():
    from worlds.text_game.data import load_rows

    return load_rows(require(BYTESIZED32_TEST))
