"""Figure 7: how often BIC, ICL and DSC choose the true number of experts, against n.

Reads ``results/consistency_summary[_quick].csv`` (``python -m
paper_figures.compute --only consistency``): per truth ([N23]'s, k0 = 2, d = 1;
three planes, k0 = 3, d = 2), sample size and criterion, the share of data sets
whose choice is k0 with its 95 % Wilson interval.
"""

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402

from gmoe.simulation._consistency import plot_consistency  # noqa: E402
from paper_figures._common import quick_flag, results_path, save  # noqa: E402

NAME = "fig7_consistency"


def main(quick=False):
    path = results_path("consistency_summary", quick)
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `python -m paper_figures.compute "
                         "--only consistency` first.")
    summary = pd.read_csv(path)
    summary = summary[summary["criterion"].isin(["bic", "icl", "dsc"])]
    fig = plot_consistency(summary)
    return save(fig, NAME, quick), {}


if __name__ == "__main__":
    print(main(quick_flag())[0])
