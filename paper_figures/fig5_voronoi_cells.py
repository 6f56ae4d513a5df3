"""Figure 5: three true linear experts, ten fitted ones, coloured by Voronoi cell."""

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gmoe import MixingMeasure  # noqa: E402
from gmoe.datasets import draw_covariates, draw_response  # noqa: E402
from gmoe.plotting import plot_voronoi_cells  # noqa: E402
from paper_figures import _common  # noqa: E402
from paper_figures._common import quick_flag, save  # noqa: E402

NAME = "fig5_voronoi_cells"


def main(quick=False):
    path = _common.RESULTS / ("voronoi_cells_quick.json" if quick
                              else "voronoi_cells.json")
    if not path.exists():
        raise SystemExit(f"{path} is missing: "
                         "run `python -m paper_figures.compute` first.")
    record = json.loads(path.read_text())
    truth = MixingMeasure.from_params(
        **{key: np.asarray(value) for key, value in record["truth"].items()})
    fitted = MixingMeasure.from_dict(record["fitted"])
    # the data are redrawn from the recorded seed, exactly as compute.py drew them
    rng = np.random.default_rng(record["random_state"])
    X = draw_covariates(record["n"], design="uniform", low=-1, high=1, random_state=rng)
    y, _ = draw_response(truth.to_params(), X, rng)
    fig, ax = plt.subplots(figsize=(7, 5))
    plot_voronoi_cells(fitted, truth, X, y, ax=ax)
    return save(fig, NAME, quick), {}


if __name__ == "__main__":
    print(main(quick_flag())[0])
