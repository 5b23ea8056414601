"""mkdocs hook: the configuration reference is generated from the pydantic config at build time, so it
cannot drift from the code (`<!-- config-reference -->` in a page becomes one table per section)."""

from __future__ import annotations

import sys
from pathlib import Path

MARKER = "<!-- config-reference -->"


def config_reference() -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from services.config import reference_tables

    return reference_tables()


def on_page_markdown(markdown: str, page, config, files) -> str:
    return markdown.replace(MARKER, config_reference()) if MARKER in markdown else markdown
