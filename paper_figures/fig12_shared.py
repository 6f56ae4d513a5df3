"""Figure 12: shared and routed experts, the simulation of [DSM25] with linear
experts (see :mod:`paper_figures.shared`): the Voronoi losses against n in each
regime, their slopes next to the paper's, and ``results/shared[_quick].md``."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gmoe.plotting import plot_rate  # noqa: E402
from gmoe.simulation import estimate_rate  # noqa: E402
from paper_figures import _common  # noqa: E402
from paper_figures._common import load, quick_flag, save  # noqa: E402
from paper_figures.fig6_regimes import median_rate  # noqa: E402
from paper_figures.shared import REGIMES, REPORTED  # noqa: E402

NAME = "fig12_shared"


def rates(results):
    """Slopes of the mean and the median of each regime's losses, by label,
    with the paper's reported slope as the reference."""
    found = {}
    for regime, (_, _, losses, _) in REGIMES.items():
        rows = results[(results["regime"] == regime)
                       & (results["error"].astype(object).fillna("") == "")]
        for kind in losses:
            found[f"{kind}, {regime}"] = (estimate_rate(rows, kind), REPORTED[kind])
            found[f"median {kind}, {regime}"] = (median_rate(rows, kind),
                                                  REPORTED[kind])
    return found


def table(results, found):
    """The markdown table of ``results/shared[_quick].md``."""
    lines = ["| loss, regime | slope | 95 % interval | reported [DSM25] | fits | "
             "converged | fit LL >= truth LL |",
             "|---|---|---|---|---|---|---|"]
    for label, (rate, reported) in found.items():
        regime = label.split(", ")[1]
        rows = results[results["regime"] == regime]
        above = (rows["log_likelihood"] >= rows["truth_log_likelihood"]).mean()
        lines.append(f"| {label} | {rate.slope:.3f} | [{rate.ci[0]:.3f}, "
                     f"{rate.ci[1]:.3f}] | {reported:.3f} | {len(rows)} | "
                     f"{rows['converged'].mean():.3f} | {above:.3f} |")
    return "\n".join(lines) + "\n"


def main(quick=False):
    results = load("shared", quick)
    found = rates(results)
    panels = [(regime, kind) for regime, (_, _, losses, _) in REGIMES.items()
              for kind in losses]
    fig, axes = plt.subplots(1, len(REGIMES), figsize=(5 * len(REGIMES), 4.2),
                             sharey=False)
    for ax, regime in zip(axes, REGIMES, strict=True):
        for index, (name, kind) in enumerate(p for p in panels if p[0] == regime):
            rows = results[(results["regime"] == name)
                           & (results["error"].astype(object).fillna("") == "")]
            plot_rate(rows, kind, ax=ax, rate=found[f"{kind}, {name}"][0],
                      label=f"mean {kind}", color=f"C{index}",
                      theory_slope=REPORTED[kind])
        ax.set_title(regime, fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle("Shared and routed experts, linear-expert analogue of [DSM25] "
                 "App. G.1 (dashed: the paper's reported slopes)", fontsize=10)
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
