"""Accessibility trees as WebArena prints them, and the change between two of them (the paper's target).

A tree is Chrome's raw accessibility tree (CDP `Accessibility.getFullAXTree`, BrowserGym's
`axtree_object`). It prints one line per node, `[id] role 'name' prop: value ...`, tab-indented by
depth, as WebArena's observation does, with the Chrome-156 differences mapped (WEB.md):
- dropped with their line (children move up a level): ignored nodes, InlineTextBox / LineBreak
  nodes, non-DOM text nodes (no DOM id: their ids change on every snapshot), and empty generic /
  img / list-like nodes without properties (WebArena's rule);
- dropped properties: focusable, editable, readonly, level, settable, multiline, invalid (WebArena),
  and `url` (it leaks the recorder's local file path);
- role `image` is printed `img`, as in WebArena-era trees; an input's text is its `value:` property.
Ids are the DOM node ids renumbered per episode in order of first appearance (`IdMap`): stable
within an episode, the same from run to run.

The change (`diff_items`), keyed by id: new = an id only after the action, deleted = an id only
before, updated = the same id with a different line (the after line). Same-id matching is our
choice; WMA may also match elements across id changes.
"""

from __future__ import annotations

import re

IGNORED_PROPERTIES = frozenset({"focusable", "editable", "readonly", "level", "settable", "multiline", "invalid", "url"})
DROPPED_ROLES = frozenset({"InlineTextBox", "LineBreak", "none", "Ignored"})
EMPTY_DROPPED_ROLES = frozenset({"generic", "img", "list", "strong", "paragraph", "banner", "navigation", "Section", "LabelText", "Legend", "listitem"})
ROLE_NAMES = {"image": "img"}
SECTIONS = ("New items:", "Deleted items:", "Updated items:")
NONE_ITEM = "None"


class IdMap:
    """DOM node ids -> small ids, numbered from 1 in order of first appearance (one per episode)."""

    def __init__(self) -> None:
        self.ids: dict[int, int] = {}

    def __call__(self, dom_id: int) -> int:
        return self.ids.setdefault(dom_id, len(self.ids) + 1)


def _value(field: dict | None):
    return None if not isinstance(field, dict) else field.get("value")


def tree_lines(axtree: dict, ids: IdMap) -> list[tuple[int, int, str]]:
    """(id, depth, line without indentation) per printed node, in document order."""
    nodes = axtree["nodes"]
    by_id = {n["nodeId"]: n for n in nodes}
    out: list[tuple[int, int, str]] = []

    def visit(node: dict, depth: int) -> None:
        line = _line(node, ids)
        if line is not None:
            out.append((line[0], depth, line[1]))
        for child in node.get("childIds", []):
            if child in by_id:
                visit(by_id[child], depth + 1 if line is not None else depth)

    if nodes:
        visit(nodes[0], 0)
    return out


def _line(node: dict, ids: IdMap) -> tuple[int, str] | None:
    """(id, printed line) of one node, or None when it is not printed."""
    dom_id = node.get("backendDOMNodeId")
    role = _value(node.get("role"))
    if node.get("ignored") or dom_id is None or role is None or role in DROPPED_ROLES:
        return None
    name = _value(node.get("name")) or ""
    props = []
    value = _value(node.get("value"))
    if value not in (None, ""):
        props.append(f"value: {value}")
    for prop in node.get("properties") or []:
        prop_value = _value(prop.get("value"))
        if prop.get("name") in IGNORED_PROPERTIES or prop_value is None:
            continue
        props.append(f"{prop['name']}: {prop_value}")
    if not name.strip() and not props and role in EMPTY_DROPPED_ROLES:
        return None
    text = f"[{ids(dom_id)}] {ROLE_NAMES.get(role, role)} {name!r}"
    return ids(dom_id), " ".join([text, *props])


def render_tree(lines: list[tuple[int, int, str]], title: str = "") -> str:
    """The observation as the prompt shows it: the tab line, then the indented tree."""
    body = "\n".join("\t" * depth + text for _, depth, text in lines)
    return f"Tab 0 (current): {title}\n\n{body}"


def diff_items(before: list[tuple[int, int, str]], after: list[tuple[int, int, str]]) -> dict[str, list[str]]:
    """{section header: item lines} of the change from `before` to `after` (see the module doc)."""
    old = {i: text for i, _, text in before}
    new = {i: text for i, _, text in after}
    return {
        "New items:": [text for i, text in new.items() if i not in old],
        "Deleted items:": [text for i, text in old.items() if i not in new],
        "Updated items:": [text for i, text in new.items() if i in old and old[i] != text],
    }


def render_target(items: dict[str, list[str]]) -> str:
    """The paper's target: three sections separated by an empty line, `None` for an empty one."""
    return "\n\n".join(header + "\n" + "\n".join(items.get(header) or [NONE_ITEM]) for header in SECTIONS)


def has_items(sections: dict[str, set[str]]) -> bool:
    """Whether parsed sections list any item (are not `None` in all three)."""
    return any(item != NONE_ITEM for items in sections.values() for item in items)


def target_changes(target: str) -> bool:
    """Whether a change text lists any item."""
    sections, _ = parse_target(target)
    return has_items(sections or {})


_HEADER = re.compile(r"^[*_#\s]*(new|deleted|updated)\s+items\s*:?[*_\s]*:?\s*(.*)$", re.IGNORECASE)
_BULLET = re.compile(r"^[-*]\s+")


def _item(line: str) -> str:
    line = _BULLET.sub("", line.strip()).strip()
    return NONE_ITEM if line.lower() == "none" else line


def parse_target(text: str) -> tuple[dict[str, set[str]] | None, str | None]:
    """({header: set of items}, None) of a well-formed change text, else (None, the error kind).

    Well-formed: each of the three headers exactly once (any order; any letter case, markdown emphasis
    allowed), each followed by item lines or by `None` alone; an item may sit on its header's line;
    `none` in any case is `None`; `- ` / `* ` bullets are dropped; lines before the first header are
    ignored. Error kinds: no_sections, missing_section, repeated_section, empty_section, none_with_items."""
    sections: dict[str, set[str]] = {h: set() for h in SECTIONS}
    current, seen = None, []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        header = _HEADER.match(line)
        if header:
            current = f"{header.group(1).capitalize()} items:"
            seen.append(current)
            line = header.group(2).strip().strip("*_").strip()
            if not line:
                continue
        if current is not None:
            sections[current].add(_item(line))
    if not seen:
        return None, "no_sections"
    if len(set(seen)) < len(SECTIONS):
        return None, "missing_section"
    if len(seen) > len(SECTIONS):
        return None, "repeated_section"
    if any(not items for items in sections.values()):
        return None, "empty_section"
    if any(NONE_ITEM in items and len(items) > 1 for items in sections.values()):
        return None, "none_with_items"
    return sections, None


def parse_tree(text: str) -> list[tuple[int, int, str]]:
    """The (id, depth, line) of a printed tree (render_tree's text, or a WebArena observation):
    lines that start, after their tabs, with `[id]`; others (the tab line) are skipped."""
    out = []
    for raw in text.splitlines():
        line = raw.lstrip("\t")
        if line.startswith("[") and "]" in line and line[1 : line.index("]")].isdigit():
            out.append((int(line[1 : line.index("]")]), len(raw) - len(line), line.rstrip()))
    return out
