"""mkdocs hook: the configuration reference is generated from the pydantic config at build time, so it
cannot drift from the code (`<!-- config-reference -->` in a page becomes one table per section,
`<!-- renamed-keys -->` the table of keys that moved)."""

from __future__ import annotations

import sys
from pathlib import Path

MARKER = "<!-- config-reference -->"
RENAMED_MARKER = "<!-- renamed-keys -->"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown and RENAMED_MARKER not in markdown:
        return markdown
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from services.config import RENAMED, reference_tables

    renamed = "| old key | now |\n|---|---|\n" + "\n".join(f"| `{old}` | `{new}` |" for old, new in RENAMED.items()) + "\n"
    return markdown.replace(MARKER, reference_tables()).replace(RENAMED_MARKER, renamed)
