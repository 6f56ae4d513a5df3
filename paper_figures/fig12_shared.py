"""Figure 12: shared and routed experts, the simulation of [DSM25] with linear
experts (see :mod:`paper_figures.shared`): the Voronoi losses against n in each
regime, their slopes next to the paper's, and ``results/shared[_quick].md``."""

import matplotlib

matplotlib.use("Agg")
import types  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gmoe.simulation import estimate_rate  # noqa: E402
from paper_figures import _common  # noqa: E402
from paper_figures._common import load, quick_flag, save  # noqa: E402
from paper_figures.shared import REGIMES, REPORTED  # noqa: E402

NAME = "fig12_shared"


#: Bootstrap resamples of the median-based slopes.
N_BOOT = 1000


def median_rate(rows, column, n_boot=N_BOOT, random_state=0):
    """Least-squares slope of log(median) on log(n), with a percentile bootstrap
    interval over replications (resampled within each n).  Infinite losses (a fit
    whose gate intercept overflows the weight ``exp(beta_0)``) are kept: they
    count above every finite one, and no point is dropped."""
    sizes = np.sort(rows["n"].unique())
    groups = [rows.loc[rows["n"] == n, column].to_numpy(float) for n in sizes]
    x = np.log(sizes)

    def slope(values):
        log_median = np.log([np.median(v) for v in values])
        if not np.all(np.isfinite(log_median)):
            return np.nan  # a median that is infinite has no slope
        return np.polyfit(x, log_median, 1)[0]

    rng = np.random.default_rng(random_state)
    boot = [slope([rng.choice(v, size=v.size) for v in groups])
            for _ in range(n_boot)]
    boot = np.asarray(boot)[np.isfinite(boot)]
    ci = tuple(np.percentile(boot, [2.5, 97.5])) if boot.size else (np.nan, np.nan)
    return types.SimpleNamespace(
        slope=slope(groups), ci=ci,
        sample_sizes=sizes, median=np.array([np.median(v) for v in groups]),
        quartiles=np.array([np.quantile(v, [0.25, 0.75], method="nearest")
                            for v in groups]))


def _fits(results, regime):
    return results[(results["regime"] == regime)
                   & (results["error"].astype(object).fillna("") == "")]


def rates(results):
    """Slopes of the median (every regime) and of the mean (the softmax regimes;
    the means of the sigmoid regime's losses are dominated by fits with an
    overflowing gate weight) of each regime's losses, by label, with the
    paper's reported slope as the reference."""
    found = {}
    for regime, (gate, _, losses, _) in REGIMES.items():
        rows = _fits(results, regime)
        for kind in losses:
            found[f"median {kind}, {regime}"] = (median_rate(rows, kind),
                                                  REPORTED[kind])
            if gate == "softmax":
                found[f"mean {kind}, {regime}"] = (estimate_rate(rows, kind),
                                                    REPORTED[kind])
    return found


def table(results, found):
    """The markdown table of ``results/shared[_quick].md``."""
    lines = ["| loss, regime | slope | 95 % interval | reported [DSM25] | fits | "
             "converged | fit LL >= truth LL |",
             "|---|---|---|---|---|---|---|"]
    for label, (rate, reported) in found.items():
        regime = label.split(", ")[1]
        rows = _fits(results, regime)
        above = (rows["log_likelihood"] >= rows["truth_log_likelihood"]).mean()
        lines.append(f"| {label} | {rate.slope:.3f} | [{rate.ci[0]:.3f}, "
                     f"{rate.ci[1]:.3f}] | {reported:.3f} | {len(rows)} | "
                     f"{rows['converged'].mean():.3f} | {above:.3f} |")
    return "\n".join(lines) + "\n"


def main(quick=False):
    results = load("shared", quick)
    found = rates(results)
    fig, axes = plt.subplots(1, len(REGIMES), figsize=(5 * len(REGIMES), 4.2))
    for ax, (regime, (_, _, losses, _)) in zip(axes, REGIMES.items(), strict=True):
        for index, kind in enumerate(losses):
            rate = found[f"median {kind}, {regime}"][0]
            n = rate.sample_sizes
            ax.plot(n, rate.median, "o", color=f"C{index}",
                    label=f"median {kind}: slope {rate.slope:.2f} "
                          f"[{rate.ci[0]:.2f}, {rate.ci[1]:.2f}]")
            finite = np.all(np.isfinite(rate.quartiles), axis=1)
            ax.fill_between(n[finite], rate.quartiles[finite, 0],
                            rate.quartiles[finite, 1], color=f"C{index}", alpha=0.2)
            if np.isfinite(rate.slope):
                fit = np.polyfit(np.log(n), np.log(rate.median), 1)
                ax.plot(n, np.exp(np.polyval(fit, np.log(n))), "-",
                        color=f"C{index}")
            reported = REPORTED[kind]
            ax.plot(n, rate.median[-1] * (n / n[-1]) ** reported, "--",
                    color=f"C{index}", lw=0.8,
                    label=f"slope {reported} reported for {kind}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        # the sigmoid regime's upper quartiles reach 1e244 at small n: show the
        # medians' range (the band runs off the axes there)
        medians = np.concatenate([found[f"median {kind}, {regime}"][0].median
                                  for kind in losses])
        medians = medians[np.isfinite(medians)]
        if medians.size:
            ax.set_ylim(medians.min() / 5, medians.max() * 5)
        ax.set_xlabel("n")
        ax.set_title(regime, fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle("Shared and routed experts, linear analogue of [DSM25] App. G.1: "
                 "median loss and quartiles over replications", fontsize=10)
    fig.tight_layout()
    path = save(fig, NAME, quick)
    (_common.RESULTS / ("shared_quick.md" if quick else "shared.md")).write_text(
        table(results, found))
    return path, found


if __name__ == "__main__":
    path, found = main(quick_flag())
    print(path)
    for label, (rate, reported) in found.items():
        print(f"{label}: {rate.slope:.3f} [{rate.ci[0]:.3f}, {rate.ci[1]:.3f}] "
              f"(reported {reported:.3f})")
