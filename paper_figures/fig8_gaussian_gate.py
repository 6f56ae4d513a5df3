"""Figure 8: the Gaussian-gated MoE of [N24g], loss against n (Type I and II,
k = 4 and 5), three estimators on the same data (see ``gaussian_gate.py``)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from gmoe.plotting import plot_rate  # noqa: E402
from gmoe.simulation import estimate_rate  # noqa: E402
from paper_figures import _common  # noqa: E402
from paper_figures._common import quick_flag, save  # noqa: E402
from paper_figures.gaussian_gate import (  # noqa: E402
    ESTIMATORS,
    EXPERTS,
    OFFICIAL_SLOPES,
    TRUTHS,
)

NAME = "fig8_gaussian_gate"
LABELS = {"one_step": "one joint-EM iteration (the official code's fit)",
          "joint": "joint-likelihood EM",
          "conditional": "conditional MLE (moment-matched gate)"}


def load(quick=False):
    path = _common.RESULTS / ("gaussian_gate_quick.csv" if quick
                              else "gaussian_gate.csv")
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `python -m "
                         f"paper_figures.gaussian_gate{' --quick' if quick else ''}`.")
    return pd.read_csv(path)


def panel_frame(results, kind, k):
    """One row per (n, replication), one loss column per estimator."""
    rows = results[(results["type"] == kind) & (results["k"] == k)]
    return rows.pivot_table(index=["n", "replication"], columns="estimator",
                            values="loss").reset_index()


def rates(results):
    """Slope of every curve, by label (with the official code's slope)."""
    found = {}
    for kind in TRUTHS:
        for k in EXPERTS:
            frame = panel_frame(results, kind, k)
            for name in ESTIMATORS:
                found[f"{kind}, k = {k}, {name}"] = (estimate_rate(frame, name), -0.5)
    return found


def main(quick=False):
    results = load(quick)
    found = rates(results)
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5), sharex=True, sharey=True)
    for row, kind in enumerate(TRUTHS):
        for col, k in enumerate(EXPERTS):
            ax = axes[row, col]
            frame = panel_frame(results, kind, k)
            for index, name in enumerate(ESTIMATORS):
                plot_rate(frame, name, ax=ax, rate=found[f"{kind}, k = {k}, {name}"][0],
                          label=LABELS[name], color=f"C{index}",
                          theory_slope=-0.5 if index == 0 else None)
            ax.set_title(f"{'Type I' if kind == 'type1' else 'Type II'}, k = {k} "
                         f"(k0 = 3); official code: slope "
                         f"{OFFICIAL_SLOPES[(kind, k)]}", fontsize=9)
            ax.set_ylabel("mean loss")
            ax.legend(fontsize=6)
    n_rep = results["replication"].nunique()
    fig.suptitle(f"Gaussian-gated MoE [N24g]: mean loss over {n_rep} replications",
                 fontsize=11)
    return save(fig, NAME, quick), found


if __name__ == "__main__":
    path, found = main(quick_flag())
    print(path)
    for label, (rate, _) in found.items():
        print(f"{label}: {rate.slope:.3f} [{rate.ci[0]:.3f}, {rate.ci[1]:.3f}]")
