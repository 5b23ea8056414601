"""The web world model's prompt (the paper's inputs: URL, objective, previous action, the current
observation and the current action, then the answer format).

`style="full"` is the paper's prompt with its instructions; `style="state_only"` keeps the page
and the action only (short prompts for a tiny model from scratch).
"""

from __future__ import annotations

INSTRUCTION = (
    "You are a world model of web pages. Given a web page's accessibility tree and an action on it, predict how "
    "the page changes after the action.\n"
)
ANSWER_FORMAT = (
    "Answer with three sections separated by an empty line: \"New items:\", \"Deleted items:\" and \"Updated items:\", "
    "each followed by one line per item of the tree after the action, written as the tree writes it "
    "(\"[ID] role 'name' attributes\"): new items are elements that appear, deleted items elements that disappear, "
    "updated items elements whose line changes (give the new line). Write None under a section with no items."
)
STYLES = ("full", "state_only")


def render_prompt(row: dict, style: str = "full") -> str:
    if style not in STYLES:
        raise ValueError(f"unknown prompt style {style!r}; expected one of {STYLES}")
    if style == "state_only":
        return f"Observation:\n{row['observation']}\nAction: {row['action']}\n"
    return (
        INSTRUCTION
        + f"URL: {row.get('url', '')}\n"
        + f"Objective: {row.get('objective', '')}\n"
        + f"Previous action: {row.get('previous_action', 'None')}\n"
        + f"Current observation:\n{row['observation']}\n"
        + f"Current action: {row['action']}\n\n"
        + ANSWER_FORMAT
    )
