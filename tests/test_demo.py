"""gmoe demo: the rate study's slopes, the sentences that judge them, the figures."""

import numpy as np
import pandas as pd
import pytest

from gmoe.simulation._demo import (
    QUANTITIES,
    REASONS,
    certification_sentence,
    demo_study,
    judge_slope,
    median_rate,
)


def synthetic(slope, *, sizes=(1000, 2000, 4000, 8000, 16000), reps=8, spread=0.1,
              seed=0, column="D2"):
    """Replications whose median falls exactly like n**slope, with log-normal noise."""
    rng = np.random.default_rng(seed)
    n = np.repeat(sizes, reps)
    noise = np.exp(spread * rng.standard_normal(n.size))
    return pd.DataFrame({"k": 3, "n": n, column: 2.0 * n**slope * noise})


# ---------------------------------------------------------------- judge_slope
@pytest.mark.parametrize("ci, verdict", [
    ((-0.6, -0.4), "consistent"),
    ((-0.5, -0.3), "consistent"),  # an end of the interval counts as inside
    ((-0.9, -0.7), "steeper"),
    ((-0.4, -0.2), "flatter"),
])
def test_verdict_is_the_position_of_the_theory_in_the_interval(ci, verdict):
    slope = sum(ci) / 2
    got, sentence = judge_slope(slope, ci, -0.5, label="D2")
    assert got == verdict
    assert sentence.startswith(f"D2: measured {slope:.2f} [{ci[0]:.2f}, {ci[1]:.2f}] "
                               "against -1/2: ")
    assert verdict in sentence


def test_sentence_gives_the_reason_of_a_difference_by_family():
    verdict, sentence = judge_slope(0.2, (0.05, 0.4), -1 / 8, label="gate slope",
                                    family="cell parameter")
    assert verdict == "flatter"
    assert "against -1/8" in sentence and "falls slower" in sentence
    assert REASONS[("cell parameter", "flatter")] in sentence
    assert "flat ridge" in sentence
    verdict, sentence = judge_slope(-0.45, (-0.6, -0.3), -1 / 4, label="a",
                                    family="cell parameter")
    assert verdict == "steeper"
    assert REASONS[("cell parameter", "steeper")] in sentence
    assert "upper bound" in sentence


def test_consistent_but_weak_when_the_interval_holds_zero_or_is_wide():
    assert judge_slope(-0.5, (-0.6, -0.4), -0.5)[1].endswith(": consistent.")
    verdict, sentence = judge_slope(-0.2, (-0.7, 0.3), -0.5)
    assert verdict == "consistent" and "weak check" in sentence
    assert "holds 0" in sentence
    verdict, sentence = judge_slope(-1.2, (-2.5, -0.1), -0.125,
                                    family="cell parameter")
    assert verdict == "consistent" and "2.4 wide" in sentence
    assert "holds 0" not in sentence


def test_no_interval_is_unavailable():
    verdict, sentence = judge_slope(-0.5, (np.nan, np.nan), -0.5, label="D1")
    assert verdict == "unavailable" and "too few" in sentence


# ---------------------------------------------------------------- median_rate
@pytest.mark.parametrize("true_slope", [-0.5, -0.125])
def test_median_rate_recovers_the_slope_and_the_sentence_follows(true_slope):
    rate = median_rate(synthetic(true_slope), "D2", k=3, n_boot=300)
    assert rate.slope == pytest.approx(true_slope, abs=0.05)
    assert rate.ci[0] < rate.slope < rate.ci[1]
    assert judge_slope(rate.slope, rate.ci, true_slope)[0] == "consistent"
    # Against a theory far off, the same numbers give the other verdicts.
    assert judge_slope(rate.slope, rate.ci, true_slope + 0.5)[0] == "steeper"
    assert judge_slope(rate.slope, rate.ci, true_slope - 0.5)[0] == "flatter"
    assert np.all(rate.q25 <= rate.median) and np.all(rate.median <= rate.q75)
    assert np.all(rate.low <= rate.q25) and np.all(rate.q75 <= rate.high)
    assert rate.counts.tolist() == [8] * 5


def test_one_outlier_replication_does_not_move_the_median_slope():
    frame = synthetic(-0.5)
    clean = median_rate(frame, "D2", n_boot=200)
    frame.loc[frame.index[0], "D2"] = 101.0  # as the D2 = 101 fit at n = 1000
    dirty = median_rate(frame, "D2", n_boot=200)
    assert abs(dirty.slope - clean.slope) < 0.05
    assert judge_slope(dirty.slope, dirty.ci, -0.5)[0] == "consistent"
    assert dirty.high[0] == 101.0  # still shown, in the range band


def test_median_rate_skips_missing_values_and_needs_two_sizes():
    frame = synthetic(-0.5)
    frame.loc[frame.index[:3], "D2"] = np.nan
    assert median_rate(frame, "D2", n_boot=0).counts[0] == 5
    with pytest.raises(ValueError, match="a slope needs 2"):
        median_rate(frame[frame["n"] == 1000], "D2", n_boot=0)


def test_certification_sentence_counts_the_stationary_points():
    frame = pd.DataFrame({"converged": [True, True, False],
                          "gradient_norm": [1e-10, 2e-9, 3e-6]})
    sentence = certification_sentence(frame)
    assert "2 of 3 fits (67%)" in sentence and "3e-06" in sentence
    assert "stopped before" in sentence


def test_quantities_have_readable_labels_and_the_theory_slopes():
    theory = {q.column: q.theory for q in QUANTITIES}
    assert theory == {"D1": -0.5, "D2": -0.5, "err_weight_M2": -0.5,
                      "err_gate_coef_M2": -1 / 8, "err_expert_intercept_M2": -1 / 8,
                      "err_expert_coef_M2": -1 / 4, "err_expert_variance_M2": -1 / 4}
    labels = {q.column: q.label for q in QUANTITIES}
    assert labels["err_gate_coef_M2"] == "gate slope beta_1, cell with 2 atoms (k = 3)"
    assert not any("err_" in q.label for q in QUANTITIES)


# ---------------------------------------------------------------- the study
def test_demo_study_writes_figure_tables_and_sentences(tmp_path, capsys):
    out = demo_study(tmp_path, n_replications=2, sample_sizes=(300, 600, 1200),
                     n_init=1, n_jobs=1, progress=False)
    assert out["figure"].read_bytes()[:4] == b"\x89PNG"
    table = pd.read_csv(out["csv"])
    assert len(table) == 2 * 3 * 2
    assert {"converged", "gradient_norm", "n_iter_em", "n_iter_newton",
            "fit_time"} <= set(table.columns)
    rate = out["rates"]["k=2 D1"]
    medians = table[table["k"] == 2].groupby("n")["D1"].median()
    assert rate.slope == pytest.approx(
        np.polyfit(np.log([300, 600, 1200]), np.log(medians), 1)[0])
    slopes = pd.read_csv(out["slopes_csv"])
    assert set(slopes["verdict"]) <= {"consistent", "steeper", "flatter"}
    printed = capsys.readouterr().out
    assert "Certified:" in printed and str(out["figure"]) in printed
    for _, sentence in out["verdicts"].values():
        assert sentence in printed
    assert "loss D1, exact fit (k = 2): measured" in printed


def test_demo_rates_figure_is_a_sensible_size(tmp_path):
    from matplotlib.image import imread

    from gmoe.plotting._rates import plot_demo_rates

    frame = synthetic(-0.5).assign(k=2).rename(columns={"D2": "D1"})
    rates = {"k=2 D1": median_rate(frame, "D1", n_boot=50)}
    path = tmp_path / "rates.png"
    plot_demo_rates(frame, rates, QUANTITIES, path)
    height, width = imread(path).shape[:2]
    assert 1000 <= width <= 1600 and 500 <= height <= 900
