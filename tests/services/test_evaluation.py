"""Best-of-N evaluation (paper Fig. 4): the curve keeps, per example, the best of its first N samples."""

from rewards.registry import mean_summary
from rewards.text_game import summarize
from rewards.types import RewardResult
from services.evaluation import best_of_curve, plot_best_of


def r(reward, exact=0.0, changed=1.0):
    return RewardResult(reward, {"exact_match": exact, "changed": changed, "property_accuracy": reward})


def test_best_of_n_keeps_the_highest_reward_of_the_first_n_samples():
    results = [
        [r(0.2), r(1.0, exact=1.0), r(0.5), r(0.1)],  # right on its 2nd sample
        [r(0.3), r(0.1), r(0.2), r(0.9, exact=1.0, changed=0.0)],  # right on its 4th, an unchanged row
        [r(0.0), r(0.0), r(0.0), r(0.0)],
    ]
    curve = best_of_curve(results, [1, 2, 4], summarize)
    assert [curve[n]["accuracy_overall"] for n in (1, 2, 4)] == [0.0, 1 / 3, 2 / 3]
    assert curve[4]["accuracy_unchanged"] == 1.0 and curve[4]["accuracy_changed"] == 0.5
    assert [round(curve[n]["reward_mean"], 4) for n in (1, 2, 4)] == [round(0.5 / 3, 4), round(1.3 / 3, 4), round(1.9 / 3, 4)]
    assert best_of_curve(results, [1], mean_summary)[1]["reward_mean"] == curve[1]["reward_mean"]


def test_the_curves_are_drawn(tmp_path):
    curves = {"mle": {1: {"accuracy_overall": 0.2}, 4: {"accuracy_overall": 0.4}}, "rl": {1: {"accuracy_overall": 0.3}, 4: {"accuracy_overall": 0.35}}}
    plot_best_of(curves, "accuracy_overall", tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rl_is_paired_with_every_other_model_in_its_own_mode_on_the_metrics_the_records_hold(tmp_path, capsys):
    import json
    from types import SimpleNamespace

    from services.evaluation import paired_with_rl

    def recs(lpips):
        return [{"id": i, "lpips": v, "psnr": 20.0 - v} for i, v in enumerate(lpips)]

    records = {"mle": recs([0.3, 0.3]), "rl": recs([0.1, 0.4]), "mle@sampled": recs([0.5, 0.5]), "rl@sampled": recs([0.2, 0.2])}
    paired = paired_with_rl(SimpleNamespace(dir=tmp_path), records)
    assert set(paired) == {"rl vs mle", "rl@sampled vs mle@sampled"}  # never greedy against sampled
    assert set(paired["rl vs mle"]) == {"lpips", "psnr"}  # no exact_match in these records
    assert (paired["rl vs mle"]["lpips"]["all"]["wins"], paired["rl vs mle"]["lpips"]["all"]["losses"]) == (1, 1)
    assert paired["rl@sampled vs mle@sampled"]["lpips"]["all"]["wins"] == 2
    assert json.loads((tmp_path / "paired.json").read_text()) == paired
    assert "lpips       rl@sampled vs mle@sampled: all +2 / -0 (p 0.50, mean -0.3)" in capsys.readouterr().out
