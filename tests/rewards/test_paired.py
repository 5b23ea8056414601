"""Paired comparison of two models on the same examples: wins, losses and the sign test, hand-computed."""

import pytest

from rewards.score import format_paired, paired_comparison


def rec(id_, exact, changed=None):
    return {"id": id_, "exact_match": exact, **({} if changed is None else {"changed": changed})}


def test_wins_losses_and_the_exact_sign_test_per_case():
    base = [rec("a", 0, 1), rec("b", 0, 1), rec("c", 0, 1), rec("d", 1, 1), rec("e", 0, 0), rec("f", 1, 0), rec("g", 1, 0)]
    other = [rec("g", 1, 0), rec("f", 0, 0), rec("e", 1, 0), rec("d", 1, 1), rec("c", 1, 1), rec("b", 1, 1), rec("a", 1, 1)]  # any order
    out = paired_comparison(base, other)
    assert out["changed"] == {"examples": 4, "wins": 3, "losses": 0, "p_value": pytest.approx(0.25), "mean_difference": 0.75}  # 2 x 0.5^3
    assert out["unchanged"] == {"examples": 3, "wins": 1, "losses": 1, "p_value": pytest.approx(1.0), "mean_difference": 0.0}
    assert out["all"] == {"examples": 7, "wins": 4, "losses": 1, "p_value": pytest.approx(0.375), "mean_difference": pytest.approx(3 / 7)}  # 2 x (1 + 5) / 2^5
    assert format_paired("rl", "mle", out).startswith("rl vs mle: all +4 / -1 (p 0.38), changed +3 / -0 (p 0.25)")


def test_no_discordant_pair_is_p_one_and_records_without_a_case_give_all_only():
    out = paired_comparison([rec("a", 1), rec("b", 0)], [rec("a", 1), rec("b", 0)])
    assert out == {"all": {"examples": 2, "wins": 0, "losses": 0, "p_value": 1.0, "mean_difference": 0.0}}


def test_a_continuous_metric_counts_the_better_side_and_lower_lpips_wins():
    base = [{"id": i, "lpips": v, "psnr": 20.0} for i, v in zip("abcd", (0.10, 0.20, 0.30, 0.40))]
    other = [{"id": i, "lpips": v, "psnr": p} for i, v, p in zip("abcd", (0.05, 0.10, 0.30, 0.50), (21.0, 22.0, 20.0, 19.0))]
    lpips = paired_comparison(base, other, "lpips")["all"]
    assert (lpips["wins"], lpips["losses"]) == (2, 1)  # a, b lower (better); c tied (dropped); d higher
    assert lpips["p_value"] == pytest.approx(1.0)  # 2 x P(X >= 2 | 3, 0.5) = 2 x 4/8, capped at 1
    assert lpips["mean_difference"] == pytest.approx((-0.05 - 0.10 + 0.0 + 0.10) / 4)
    psnr = paired_comparison(base, other, "psnr")["all"]
    assert (psnr["wins"], psnr["losses"], psnr["mean_difference"]) == (2, 1, 0.5)  # higher PSNR is better
    assert format_paired("rl", "mle", {"all": lpips}, mean=True) == "rl vs mle: all +2 / -1 (p 1.00, mean -0.0125)"


def test_other_examples_are_refused():
    with pytest.raises(ValueError, match="same examples"):
        paired_comparison([rec("a", 1), rec("b", 0)], [rec("a", 1), rec("c", 0)])
    with pytest.raises(ValueError, match="same examples"):
        paired_comparison([rec("a", 1), rec("b", 0)], [rec("a", 1)])


def test_the_compare_command_reads_two_results_files(tmp_path, capsys):
    import json

    from rewards.score import compare_main

    for name, exact in (("mle", [0, 0, 1]), ("rl", [1, 1, 1])):
        records = [rec(i, e, changed=1) for i, e in zip("abc", exact)]
        (tmp_path / f"eval_{name}.json").write_text(json.dumps({"summary": {}, "samples": records}))
    assert compare_main([str(tmp_path / "eval_mle.json"), str(tmp_path / "eval_rl.json")]) == 0
    assert capsys.readouterr().out.strip() == "rl vs mle: all +2 / -0 (p 0.50), changed +2 / -0 (p 0.50)"
    assert compare_main([str(tmp_path / "eval_mle.json"), str(tmp_path / "eval_rl.json"), "--metric", "f1"]) == 2
    assert "--metric f1: not in every record" in capsys.readouterr().err
    for name, lpips in (("mle", [0.2, 0.3, 0.4]), ("rl", [0.1, 0.1, 0.5])):
        records = [{"id": i, "lpips": v} for i, v in zip("abc", lpips)]
        (tmp_path / f"eval_{name}.json").write_text(json.dumps({"summary": {}, "samples": records}))
    assert compare_main([str(tmp_path / "eval_mle.json"), str(tmp_path / "eval_rl.json"), "--metric", "lpips"]) == 0
    assert capsys.readouterr().out.strip() == "rl vs mle: all +2 / -1 (p 1.00, mean -0.06667)"
    assert compare_main([str(tmp_path / "missing.json"), str(tmp_path / "eval_rl.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
