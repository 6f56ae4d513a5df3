"""
How many experts for the motorcycle data?
=========================================

The ``mcycle`` data of R's MASS (Silverman 1985): the head acceleration of a
test dummy (g) against the time after a simulated motorcycle impact (ms), 133
samples.  A mixture of linear experts with a softmax gate in time fits the
flat start, the deep dip, the rebound and the noisy tail as separate regimes.
How many?  A sweep k = 1..8 compared by BIC (:func:`gmoe.select_n_experts`).
"""

# %%
# The sweep
# ---------
# One fit per k, each with its own seed (so the table does not depend on
# ``n_jobs``).  Over-fitted fits warn; the warnings are recorded in the table
# (``n_warnings``), and a fit with degenerate experts would never be chosen
# over a regular one.
import matplotlib.pyplot as plt
import numpy as np

from gmoe import select_n_experts
from gmoe.datasets import load_mcycle

X, y = load_mcycle(return_X_y=True)
selection = select_n_experts(X, y, range(1, 9), random_state=0)
columns = ["n_experts", "log_likelihood", "n_parameters", "bic", "icl", "aic",
           "n_degenerate", "n_warnings"]
print(selection.results_[columns].round(2).to_string(index=False))
print(f"BIC chooses k = {selection.n_experts_}")

# %%
# BIC chooses 4 experts, as R flexmix does on the same model
# (``stepFlexmix(accel ~ times, k = 1:8, concomitant = FLXPmultinom(~ times))``;
# ``benchmarks/flexmix_select_mcycle.R``): its BIC per k is within a few units
# of ours and has its minimum at k = 4 as well.  AIC, whose price per
# parameter is smaller, has its minimum at 6 experts.  The dendrogram criterion
# DSC is no help here: merging two neighbouring regimes of an 8-expert fit
# averages their parameters into an expert that fits neither, the merged
# models lose most of the likelihood, and DSC chooses 2 experts
# (``benchmarks/bench_select.py mcycle``).

fig, ax = plt.subplots(figsize=(6, 3.8))
selection.plot(ax=ax)
ax.set_title("mcycle: criteria against the number of experts")
fig.tight_layout()

# %%
# The chosen fit
# --------------
# The four experts and the gate: each line is drawn where its expert has the
# largest gate probability, the points coloured by their most responsible
# expert; the thin line is the conditional mean.
best = selection.best_estimator_
grid = np.linspace(X.min(), X.max(), 400)[:, None]
gate = best.predict_gate(grid)
means = best.predict_experts(grid)
owner = best.predict_responsibilities(X, y).argmax(axis=1)

fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
for i in range(best.n_experts):
    color = f"C{i}"
    top.scatter(X[owner == i, 0], y[owner == i], s=12, color=color, alpha=0.8)
    active = gate.argmax(axis=1) == i
    top.plot(grid[active, 0], means[active, i], color=color, lw=2,
             label=f"expert {i + 1}: sd {np.sqrt(best.expert_variance_[i]):.1f} g")
    bottom.plot(grid[:, 0], gate[:, i], color=color)
top.plot(grid[:, 0], best.predict(grid), color="k", lw=0.8,
         label="conditional mean")
top.set_ylabel("acceleration (g)")
top.legend(fontsize=8, loc="lower right")
top.set_title(f"mcycle: {best.n_experts} experts chosen by BIC")
bottom.set_ylabel("gate")
bottom.set_xlabel("time after impact (ms)")
fig.tight_layout()
plt.show()
