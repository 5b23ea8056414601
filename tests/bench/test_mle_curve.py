"""The MLE learning-curve benchmark runs end to end on a tiny model (its numbers come from a full run)."""

import importlib.util
import json


from tests.conftest import ROOT



def test_curve_scores_every_chunk_on_held_out_and_train(ray_cluster, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("mle_curve", ROOT / "bench" / "mle_curve.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main([
        "--epochs", "0.5,0.5", f"run.output_dir={tmp_path}", "world.text_game.builtin_train_rows=32",
        "world.text_game.builtin_test_rows=6", "mle.batch_size=16", "rollout.sampling.max_new_tokens=24",
        "run.tiny.vocab_size=512", "run.tiny.hidden_size=64", "run.tiny.num_layers=2", "run.tiny.num_heads=2",
    ]) == 0
    out = capsys.readouterr().out
    curve = json.loads((tmp_path / "tiny_text_game_mle_curve" / "curve.json").read_text())
    assert set(curve) == {"test", "train"}
    assert all(list(rows) == ["0.5 epochs", "1 epochs"] for rows in curve.values())
    assert all(0.0 <= r["accuracy_overall"] <= 1.0 for rows in curve.values() for r in rows.values())
    assert "== test (6 examples, greedy) ==" in out and "== train (32 examples, greedy) ==" in out
