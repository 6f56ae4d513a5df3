"""Parameter-rate studies: how fast does EM recover each parameter as n grows?

- :func:`run_rate_study` fits ``k`` experts to many samples of a known truth
  (in parallel, locally or on a Dask cluster, resumably) and returns one row per
  fit with the Voronoi losses and per-parameter errors;
- :func:`estimate_rate` fits the log-log slope of any loss or error column, with a
  bootstrap confidence interval;
- :func:`load_config` / :func:`run_config` run a study described in a TOML file
  (the ``gmoe simulate`` command).

See :func:`gmoe.plotting.plot_rate` for the figure.
"""

from gmoe.simulation._config import load_config, run_config
from gmoe.simulation._consistency import (
    consistency_summary,
    run_consistency_study,
    wilson_interval,
)
from gmoe.simulation._demo import demo_study
from gmoe.simulation._rates import RateEstimate, estimate_rate
from gmoe.simulation._replication import (
    draw_replication,
    fit_seed_sequence,
    loss_columns,
)
from gmoe.simulation._spec import TIMING_COLUMNS, check_study
from gmoe.simulation._study import run_rate_study, sample_size_grid
from gmoe.simulation._topk import run_topk_study
from gmoe.simulation._truth import NEAR_TRUTH_NOISE, near_truth_start

__all__ = [
    "NEAR_TRUTH_NOISE",
    "RateEstimate",
    "TIMING_COLUMNS",
    "check_study",
    "consistency_summary",
    "demo_study",
    "draw_replication",
    "estimate_rate",
    "fit_seed_sequence",
    "load_config",
    "loss_columns",
    "near_truth_start",
    "run_config",
    "run_consistency_study",
    "run_rate_study",
    "run_topk_study",
    "sample_size_grid",
    "wilson_interval",
]
