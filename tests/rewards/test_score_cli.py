"""`rlvr score` on real rows: ids or line numbers, missing predictions counted, bad lines named."""

import json
import subprocess

from tests.conftest import RLVR, ROOT
from worlds.text_game.prompt import render_answer


def run_score(*args):
    return subprocess.run([RLVR, "score", *map(str, args)], cwd=ROOT, capture_output=True, text=True)


def test_score_command(tmp_path, bytesized32_rows):
    rows = bytesized32_rows[:40]
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "line"}) + "\n" for r in rows))
    preds = tmp_path / "preds.jsonl"
    lines = [json.dumps({"id": f"{r['game']}_{r['state_id']}", "prediction": render_answer(r)}) for r in rows[:30]]
    lines += [json.dumps({"id": i + 1, "prediction": "no idea"}) for i in range(30, 35)]  # by line number
    preds.write_text("\n".join(lines) + "\n")  # rows 36..40 have no prediction
    out = tmp_path / "metrics.json"
    proc = run_score("--data", data, "--predictions", preds, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "accuracy_overall" in proc.stdout
    result = json.loads(out.read_text())
    summary = result["summary"]
    assert summary["num_samples"] == 40
    assert summary["accuracy_overall"] == 30 / 40
    assert summary["errors/no_answer"] == 5 and summary["errors/missing_prediction"] == 5
    assert [s["error"] for s in result["samples"][35:]] == ["missing_prediction"] * 5

    binary = run_score("--data", data, "--predictions", preds, "--verifier", "text_game_binary")
    assert binary.returncode == 0 and "reward_mean" in binary.stdout

    preds.write_text(lines[0] + "\n" + json.dumps({"id": "nope_1", "prediction": ""}) + "\n")
    bad = run_score("--data", data, "--predictions", preds)
    assert bad.returncode == 2 and "preds.jsonl:2" in bad.stderr and "nope_1" in bad.stderr


def test_score_command_for_the_web_world(tmp_path):
    obs = "Tab 0 (current): T\n\n[1] RootWebArea 'T' focused: True\n\t[2] button 'OK'"
    change = "New items:\nNone\n\nDeleted items:\nNone\n\nUpdated items:\n[2] button 'OK' focused: True"
    data = tmp_path / "web.jsonl"
    data.write_text("".join(json.dumps({"id": f"p/{i}", "observation": obs, "action": "click [2]", "target": change}) + "\n" for i in range(4)))
    preds = tmp_path / "preds.jsonl"
    preds.write_text("\n".join([
        json.dumps({"id": "p/0", "prediction": change}),
        json.dumps({"id": "p/1", "prediction": change.replace("[2] button 'OK' focused: True", "None")}),  # 2 of 3 right
        json.dumps({"id": 3, "prediction": "nothing"}),  # by line number; no section headers
    ]) + "\n")  # p/3 has no prediction
    out = tmp_path / "m.json"
    proc = run_score("--world", "web", "--data", data, "--predictions", preds, "--out", out)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(out.read_text())["summary"]
    assert summary["f1"] == (1.0 + 2 / 3) / 4 and summary["num_changed"] == 4
    assert summary["errors/no_sections"] == 1 and summary["errors/missing_prediction"] == 1
    bad = run_score("--world", "video", "--data", data, "--predictions", preds)
    assert bad.returncode == 2 and "text world" in bad.stderr
