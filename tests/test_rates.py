"""Rate estimation and the rate figure, on hand-made result tables (no fitting)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from gmoe.plotting import plot_rate
from gmoe.simulation import estimate_rate


def power_law_frame(slope=-0.5, scale=2.0, sizes=(100, 300, 1000, 3000, 10000),
                    n_rep=6, noise=0.2, seed=0, column="D2"):
    rng = np.random.default_rng(seed)
    n = np.repeat(sizes, n_rep)
    noise = np.exp(noise * rng.standard_normal(n.size))
    values = scale * n.astype(float) ** slope * noise
    replication = np.tile(np.arange(n_rep), len(sizes))
    return pd.DataFrame({"k": 3, "n": n, "replication": replication, column: values})


def test_exact_power_law_gives_its_slope_and_intercept():
    frame = power_law_frame(slope=-0.25, scale=5.0, noise=0.0)
    rate = estimate_rate(frame, "D2", n_boot=50)
    assert rate.slope == pytest.approx(-0.25, abs=1e-12)
    assert np.exp(rate.intercept) == pytest.approx(5.0, rel=1e-12)
    # No spread between replications: every bootstrap slope is the slope.
    assert rate.ci == pytest.approx((-0.25, -0.25), abs=1e-12)
    assert rate.predict(400.0) == pytest.approx(5.0 * 400.0 ** -0.25)


def test_slope_is_ols_of_log_mean_on_log_n():
    frame = power_law_frame(noise=0.5, seed=3)
    rate = estimate_rate(frame, "D2", n_boot=0)
    means = frame.groupby("n")["D2"].mean()
    log_n = np.log(means.index.to_numpy(float))
    slope, intercept = np.polyfit(log_n, np.log(means.values), 1)
    assert rate.slope == pytest.approx(slope, rel=1e-12)
    assert rate.intercept == pytest.approx(intercept, rel=1e-12)
    np.testing.assert_allclose(rate.mean, means.values)
    sem = frame.groupby("n")["D2"].sem().values
    np.testing.assert_allclose(rate.sem, sem)
    assert np.isnan(rate.ci).all()


def test_bootstrap_matches_a_plain_loop():
    frame = power_law_frame(noise=0.4, seed=1)
    rate = estimate_rate(frame, "D2", n_boot=200, random_state=7, confidence=0.9)
    rng = np.random.default_rng(7)
    sizes = np.sort(frame["n"].unique())
    columns = []
    for n in sizes:
        values = frame.loc[frame["n"] == n, "D2"].to_numpy()
        draws = rng.integers(0, values.size, size=(200, values.size))
        columns.append(values[draws].mean(axis=1))
    slopes = [np.polyfit(np.log(sizes.astype(float)), np.log(row), 1)[0]
              for row in np.column_stack(columns)]
    np.testing.assert_allclose(np.sort(rate.boot_slopes), np.sort(slopes), rtol=1e-10)
    expected = (np.quantile(slopes, 0.05), np.quantile(slopes, 0.95))
    assert rate.ci == pytest.approx(expected)
    assert rate.ci[0] <= rate.slope <= rate.ci[1]
    again = estimate_rate(frame, "D2", n_boot=200, random_state=7, confidence=0.9)
    assert again.ci == rate.ci


def test_bootstrap_interval_covers_the_true_slope_most_of_the_time():
    hits = 0
    for seed in range(40):
        frame = power_law_frame(slope=-0.5, noise=0.3, n_rep=10, seed=seed)
        low, high = estimate_rate(frame, "D2", n_boot=300, random_state=seed).ci
        hits += low <= -0.5 <= high
    # Nominal 95%; the percentile bootstrap with 10 replications is a little short.
    assert hits >= 32


def test_window_is_inclusive_and_nothing_else_is_dropped():
    frame = power_law_frame()
    rate = estimate_rate(frame, "D2", window=(300, 3000), n_boot=0)
    assert rate.sample_sizes.tolist() == [300, 1000, 3000]
    assert estimate_rate(frame, "D2", n_boot=0).sample_sizes.tolist() == [
        100, 300, 1000, 3000, 10000]
    low = estimate_rate(frame, "D2", window=(None, 300), n_boot=0)
    assert low.sample_sizes.tolist() == [100, 300]
    with pytest.raises(ValueError, match="at least 2"):
        estimate_rate(frame, "D2", window=(5000, 20000))
    with pytest.raises(ValueError, match="pair"):
        estimate_rate(frame, "D2", window=1000)


def test_missing_values_are_counted_and_an_empty_size_is_refused():
    frame = power_law_frame(n_rep=4)
    frame.loc[[0, 5], "D2"] = np.nan  # one at n=100, one at n=300
    rate = estimate_rate(frame, "D2", n_boot=10)
    assert rate.counts.tolist() == [3, 3, 4, 4, 4]
    assert rate.n_missing.tolist() == [1, 1, 0, 0, 0]
    expected = frame[frame["n"] == 100]["D2"].dropna().mean()
    assert rate.mean[0] == pytest.approx(expected)
    frame.loc[frame["n"] == 100, "D2"] = np.nan
    with pytest.raises(ValueError, match="no finite value at n=100"):
        estimate_rate(frame, "D2")
    assert estimate_rate(frame, "D2", window=(300, None), n_boot=0).counts[0] == 3


def test_bad_requests_are_refused_with_a_clear_message():
    frame = power_law_frame()
    with pytest.raises(ValueError, match="no column 'D1'"):
        estimate_rate(frame, "D1")
    two_k = pd.concat([frame, frame.assign(k=2)])
    with pytest.raises(ValueError, match="pass k="):
        estimate_rate(two_k, "D2")
    assert estimate_rate(two_k, "D2", k=2, n_boot=0).slope == pytest.approx(
        estimate_rate(frame, "D2", n_boot=0).slope)
    with pytest.raises(ValueError, match="k=4"):
        estimate_rate(two_k, "D2", k=4)
    negative = frame.assign(D2=-frame["D2"])
    with pytest.raises(ValueError, match="positive"):
        estimate_rate(negative, "D2")
    with pytest.raises(ValueError, match="n_boot"):
        estimate_rate(frame, "D2", n_boot=-1)
    with pytest.raises(TypeError, match="DataFrame"):
        estimate_rate(frame.to_dict(), "D2")


def test_to_dict_is_json_ready():
    import json

    rate = estimate_rate(power_law_frame(), "D2", n_boot=20)
    summary = json.loads(json.dumps(rate.to_dict()))
    assert summary["slope"] == pytest.approx(rate.slope)
    assert summary["sample_sizes"] == rate.sample_sizes.tolist()
    assert "slope" in str(rate)


def test_plot_rate_draws_the_fit_and_the_theory_slope():
    frame = power_law_frame(slope=-0.3, noise=0.1)
    fig, ax = plt.subplots()
    plot_rate(frame, "D2", theory_slope=-0.5, ax=ax, n_boot=100, window=(300, None))
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    lines = {line.get_label(): line for line in ax.get_lines()}
    fit = next(line for label, line in lines.items() if label.startswith("fit: slope"))
    theory = lines["theory: slope -0.5"]
    rate = estimate_rate(frame, "D2", window=(300, None), n_boot=100)
    assert f"{rate.slope:.3g}" in fit.get_label()
    assert f"{rate.ci[0]:.3g}" in fit.get_label()
    for line, slope in ((fit, rate.slope), (theory, -0.5)):
        x, y = line.get_data()
        assert np.polyfit(np.log(x), np.log(y), 1)[0] == pytest.approx(slope)
        # Drawn over the fitted window only.
        assert x[0] == pytest.approx(300) and x[-1] == pytest.approx(10000)
    # The theory line meets the fit at the geometric middle of the window.
    middle = np.sqrt(300 * 10000)
    xf, yf = fit.get_data()
    xt, yt = theory.get_data()
    assert np.interp(np.log(middle), np.log(xf), np.log(yf)) == pytest.approx(
        np.interp(np.log(middle), np.log(xt), np.log(yt)))
    labels = ax.get_legend_handles_labels()[1]
    assert "outside the window" in labels  # n = 100 is shown, not hidden
    plt.close(fig)


def test_plot_rate_error_bars_stay_positive_and_options_are_checked():
    frame = power_law_frame(noise=2.0, n_rep=3)
    ax = plot_rate(frame, "D2", theory_slope=None, n_boot=10, errorbar="std")
    assert not any(line.get_label().startswith("theory") for line in ax.get_lines())
    for collection in ax.collections:
        for segment in collection.get_segments():
            assert np.all(segment[:, 1] > 0)
    with pytest.raises(ValueError, match="errorbar"):
        plot_rate(frame, "D2", errorbar="ci")
    rate = estimate_rate(frame, "D2", n_boot=10)
    with pytest.raises(ValueError, match="not 'D1'"):
        plot_rate(frame.assign(D1=1.0), "D1", rate=rate)
    plt.close("all")
