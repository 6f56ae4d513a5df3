"""
A parameter-rate study
======================

How fast does maximum likelihood recover the parameters of a mixture of experts
when more experts are fitted than the data hold?  [N23] answers: the Voronoi loss
D2 between the fitted and the true mixing measure falls like
:math:`n^{-1/2}`, but inside a Voronoi cell that holds two fitted experts the gate
slopes :math:`\\beta_1` and expert intercepts :math:`b` converge only at
:math:`n^{-1/8}`, the expert slopes :math:`a` and variances :math:`\\sigma` at
:math:`n^{-1/4}`.

This example runs a small simulation study of that claim, from the true model to
the log-log figure: draw samples of increasing size from the two-expert truth of
[N23], fit three experts to each, measure the losses and per-parameter errors, and
estimate the slopes.
"""

# %%
# The truth
# ---------
# The true model of the simulations of [N23]: ``k0 = 2`` experts, one covariate
# on ``[0, 1]``.  A study accepts the five parameter arrays (or a
# :class:`gmoe.MixingMeasure`).
import matplotlib.pyplot as plt

from gmoe.datasets import N23_TRUTH
from gmoe.plotting import plot_rate
from gmoe.simulation import estimate_rate, run_rate_study, sample_size_grid

for name, value in N23_TRUTH.items():
    print(f"{name:17s} {value.ravel()}")

# %%
# Running the study
# -----------------
# Five log-spaced sample sizes from 1000 to 20000 and four replications each,
# fitted with ``k = 3`` experts.  Every fit starts near the truth, as in [N23]
# (:func:`gmoe.simulation.near_truth_start`); ``init="kmeans"`` would give
# realistic starts instead.  Each fit's data and start come from a seed
# sequence keyed by ``(n, replication)``, so the table is the same with any
# number of workers (``n_jobs``).  Pass ``cache="some/folder"`` to keep finished
# fits on disk and resume an interrupted study.
sizes = sample_size_grid(1000, 20000, 5)
results = run_rate_study(
    N23_TRUTH, n_experts=3, sample_sizes=sizes, n_replications=4,
    random_state=0, init="near_truth", n_init=1, progress=False,
)
print(f"{len(results)} fits, {int((results['error'] != '').sum())} failed")
results[["n", "replication", "D1", "D2", "cell_size_1", "cell_size_2",
         "n_iter", "converged"]].head(8)

# %%
# Which true expert got two fitted ones?
# ---------------------------------------
# The Voronoi cells assign each fitted expert to its nearest true expert.  The
# columns ``cell_size_j`` count the fitted experts in the cell of true expert
# ``j``; the per-parameter errors are grouped by cell size: ``err_<group>_M2`` is
# the largest error of that parameter group among the fitted experts of a
# two-expert cell.
print(results.groupby("n")[["cell_size_1", "cell_size_2"]].mean())

# %%
# The loss D2
# -----------
# :func:`gmoe.simulation.estimate_rate` averages the loss over replications at
# each ``n`` and fits a line to ``log(mean)`` against ``log(n)``; the interval is
# a bootstrap over replications.
rate = estimate_rate(results, "D2", random_state=0)
print(rate)
far_off = results[results["D2"] > 1].groupby("n").size()
print("fits with D2 > 1, by n:", far_off.to_dict())

fig, ax = plt.subplots(figsize=(6, 4.5))
plot_rate(results, "D2", rate=rate, theory_slope=-0.5, ax=ax)
ax.set_title("k = 3 experts fitted to a k0 = 2 truth")
plt.show()

# %%
# With so few sizes and replications the slope is rough, and usually steeper
# than the theory's -1/2: at small ``n`` a few over-fitted fits land far from the
# truth (the two fitted experts of a cell separate, with large gate slopes), and
# their losses dominate the mean.  [N23] saw the same and reported slopes that
# depend on how many small sizes are dropped.  A real study uses many sizes and
# replications, and declares its ``window`` before looking at the figure.

# %%
# Each parameter in the two-expert cell
# -------------------------------------
# The same call works for any error column.  The theory predicts slopes -1/8 for
# the gate slope and expert intercept, -1/4 for the expert slope and variance.
# Small studies like this one give rough slopes; see the user guide for a full
# study, and for how the EM stopping rule shapes the measured rates.
theory = {"gate_coef": -1 / 8, "expert_intercept": -1 / 8,
          "expert_coef": -1 / 4, "expert_variance": -1 / 4}
fig, ax = plt.subplots(figsize=(6, 4.5))
for group, slope in theory.items():
    plot_rate(results, f"err_{group}_M2", theory_slope=slope, ax=ax, errorbar=None,
              n_boot=200)
ax.set_ylabel("mean error in the two-expert cell")
ax.legend(fontsize="x-small", ncol=2)
plt.show()
