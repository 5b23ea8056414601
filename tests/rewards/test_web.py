"""The web verifier: F1 pooled over the three sections, hand-computed, and what a policy might try."""

import pytest

from rewards.registry import get_verifier
from rewards.web import score, summarize
from worlds.web.tree import parse_target

TRUTH = "New items:\n[5] StaticText 'hello'\n\nDeleted items:\nNone\n\nUpdated items:\n[2] textbox '' value: hello focused: True\n[1] RootWebArea 'Enter Text'"
REF = {"target": TRUTH}
ALL_NONE = "New items:\nNone\n\nDeleted items:\nNone\n\nUpdated items:\nNone"


def test_the_truth_scores_one_and_every_metric_is_right():
    r = score(TRUTH, REF)
    assert r.error is None and r.reward == 1.0
    assert r.metrics == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "exact_match": 1.0, "changed": 1.0, "parsed": 1.0}


def test_pooled_precision_recall_f1_by_hand():
    # truth: 4 items (1 new, None deleted, 2 updated). Prediction: 5 items, 2 of them right
    # ([5] StaticText in New, None in Deleted); a made-up new item, and two wrong updated lines
    prediction = "New items:\n[5] StaticText 'hello'\n[9] button 'x'\n\nDeleted items:\nNone\n\nUpdated items:\n[2] textbox '' focused: True\n[1] RootWebArea 'Other'"
    r = score(prediction, REF)
    p, rec = 2 / 5, 2 / 4
    assert r.metrics["precision"] == pytest.approx(p) and r.metrics["recall"] == pytest.approx(rec)
    assert r.reward == pytest.approx(2 * p * rec / (p + rec)) == pytest.approx(4 / 9)
    assert r.metrics["exact_match"] == 0.0


def test_the_nothing_changes_answer_scores_by_its_none_items():
    r = score(ALL_NONE, REF)  # 1 of 3 predicted items right (Deleted: None), 1 of 4 true items found
    assert r.reward == pytest.approx(2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4))
    unchanged = score(ALL_NONE, {"target": ALL_NONE})
    assert unchanged.reward == 1.0 and unchanged.metrics["changed"] == 0.0


def test_an_item_counts_only_in_its_own_section():
    swapped = "New items:\nNone\n\nDeleted items:\n[5] StaticText 'hello'\n\nUpdated items:\n[2] textbox '' value: hello focused: True\n[1] RootWebArea 'Enter Text'"
    r = score(swapped, REF)  # 2 updated right of 4 predicted / 4 true
    assert r.reward == pytest.approx(0.5)


@pytest.mark.parametrize("spelling", [
    TRUTH.replace("New items:\n", "new items:\n").replace("Updated items:", "UPDATED ITEMS:"),
    TRUTH.replace("New items:", "**New items:**").replace("Deleted items:", "**Deleted items**:"),
    TRUTH.replace("Deleted items:\nNone", "Deleted items: none"),
    TRUTH.replace("\n[2]", "\n- [2]").replace("\n[1]", "\n* [1]"),
    "Let me think: typing fills the box.\n\n" + TRUTH,          # reasoning before the first header is ignored
    TRUTH.replace("\n\n", "\n") + "\n\n\n",                     # no blank lines between sections, trailing newlines
    "  " + TRUTH.replace("\n", "  \n"),                         # stray spaces
    TRUTH + "\n[1] RootWebArea 'Enter Text'",                   # a repeated line counts once
])
def test_reasonable_spellings_of_the_right_answer_score_the_maximum(spelling):
    assert score(spelling, REF).reward == 1.0


@pytest.mark.parametrize("output, kind", [
    ("", "empty"),
    ("   \n", "empty"),
    (None, "empty"),
    ([1, 2, 3], "empty"),
    ("[5] StaticText 'hello'\n[2] textbox '' value: hello focused: True", "no_sections"),  # items, no headers
    ("None", "no_sections"),
    ("Nothing changes.", "no_sections"),
    ("New items:\n" + "[1] a\n" * 60_000, "too_long"),
])
def test_malformed_answers_score_the_floor_with_their_kind(output, kind):
    r = score(output, REF)
    assert r.reward == 0.0 and r.error == kind and r.metrics["parsed"] == 0.0 and r.metrics["changed"] == 1.0


def test_gaming_attempts_score_below_the_truth():
    # everything everywhere: every true item in every section (None among them would be a hedge: the floor)
    everything = "\n\n".join(f"{h}\n[5] StaticText 'hello'\n[2] textbox '' value: hello focused: True\n[1] RootWebArea 'Enter Text'" for h in ("New items:", "Deleted items:", "Updated items:"))
    assert 0.0 < score(everything, REF).reward < 0.6
    # a header word inside an item line is not a header
    sections, _ = parse_target("New items:\n[3] StaticText 'Deleted items: 4'\n\nDeleted items:\nNone\n\nUpdated items:\nNone")
    assert sections["New items:"] == {"[3] StaticText 'Deleted items: 4'"}
    # near-misses of an item do not match: the verifier is exact after stripping
    assert score(TRUTH.replace("value: hello", "value: Hello"), REF).reward < 1.0


@pytest.mark.parametrize("abstention, kind", [
    # what our first RL run learned under the paper's parser: commit only where sure, skip the rest
    ("New items:\nNone\n\nDeleted items:\nNone\n\nDeleted items:\nNone", "missing_section"),
    ("New items:\n[5] StaticText 'hello'\n\nDeleted items:\nNone", "missing_section"),
    ("New items:\n[5] StaticText 'hello'\n\nDeleted items:\nNone\n\nUpdated items:\n", "empty_section"),
    ("New items:\n\nDeleted items:\n\nUpdated items:\n", "empty_section"),
    (TRUTH + "\n\nNew items:\n[5] StaticText 'hello'", "repeated_section"),
    (TRUTH.replace("Deleted items:\nNone", "Deleted items:\nNone\n[7] button 'x'"), "none_with_items"),
    (TRUTH.replace("New items:\n[5] StaticText 'hello'", "New items:\n[5] StaticText 'hello'\nNone"), "none_with_items"),
])
def test_an_answer_must_commit_in_every_section_or_score_the_floor(abstention, kind):
    # under the paper's parser each of these scores precision 1 on what it states (F1 up to 0.8 here)
    r = score(abstention, REF)
    assert r.reward == 0.0 and r.error == kind


def test_summary_is_the_papers_table_plus_changed_f1_and_errors():
    results = [score(TRUTH, REF), score(ALL_NONE, REF), score(ALL_NONE, {"target": ALL_NONE}), score("", REF)]
    s = summarize(results)
    assert s["num_samples"] == 4 and s["num_changed"] == 3 and s["errors/empty"] == 1
    changed_f1 = (1.0 + score(ALL_NONE, REF).reward + 0.0) / 3
    assert s["f1_changed"] == pytest.approx(changed_f1) and s["f1_unchanged"] == 1.0
    assert s["f1"] == pytest.approx((1.0 + score(ALL_NONE, REF).reward + 1.0 + 0.0) / 4)
    assert s["parse_failure_rate"] == 0.25 and s["exact_match"] == 0.5


def test_registered_by_name():
    assert get_verifier("web").score(TRUTH, REF).reward == 1.0
