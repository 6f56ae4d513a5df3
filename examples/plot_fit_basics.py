"""
Fitting a mixture of experts
============================

Fit a two-expert softmax-gated Gaussian mixture of experts to data drawn from the
model of the simulations of [N23]_, then look at what was fitted: the experts'
regression lines, the gate, and a prediction interval.

The true model has one covariate on :math:`[0, 1]`.  Below about
:math:`x = 8/25 = 0.32` the second expert (rising line :math:`-5 + 20x`, noise
standard deviation 0.4) dominates; above it the first (falling line
:math:`15 - 20x`, standard deviation 0.3) takes over, through a steep softmax gate.
"""

# %%
# Data and fit
# ------------
# :func:`gmoe.datasets.make_moe_regression` draws ``X`` uniformly on ``[0, 1]``
# and ``y`` from the true model :data:`gmoe.datasets.N23_TRUTH`.  Fitting is the
# usual scikit-learn call.
import matplotlib.pyplot as plt
import numpy as np

from gmoe import GaussianMoERegressor
from gmoe.datasets import N23_TRUTH, PARAM_NAMES, make_moe_regression

X, y = make_moe_regression(n_samples=1000, random_state=0)
moe = GaussianMoERegressor(n_experts=2, random_state=0).fit(X, y)
print(f"converged: {moe.converged_}, EM iterations: {moe.n_iter_}")

# %%
# Fitted against true parameters
# ------------------------------
# The gate is reported in its canonical form: the last expert is the reference,
# with gate intercept and slope 0, exactly as in ``N23_TRUTH``.  Which fitted
# expert matches which true one is arbitrary in general (the labels of a mixture
# can be permuted); k-means starts happen to give the true order here.  Variances
# are variances, not standard deviations.  :data:`gmoe.datasets.PARAM_NAMES`
# names the five parameter arrays.
for name in PARAM_NAMES:
    fitted = np.ravel(getattr(moe, name + "_"))
    true = np.ravel(N23_TRUTH[name])
    print(f"{name:17s} fitted {np.array2string(fitted, precision=3):24s} "
          f"true {np.array2string(true, precision=3)}")

# %%
# Experts, gate and a 90% prediction interval
# -------------------------------------------
# ``predict_experts`` gives each expert's line :math:`a_i x + b_i` (drawn bold
# where the gate gives the expert at least 5%), ``predict_gate`` the gate
# probabilities :math:`\pi_i(x)`, ``predict`` the conditional mean and
# ``predict_interval`` the central interval between two conditional quantiles.
# Near the switch point the conditional law of ``y`` is bimodal: the mean runs
# between the two branches, where few points lie, and the interval widens to
# cover both.  The band jumps where an expert's gate probability crosses 5%: an
# expert less likely than that can be left out of a central 90% interval.
grid = np.linspace(0, 1, 400)[:, None]
lines = moe.predict_experts(grid)
gate = moe.predict_gate(grid)
mean = moe.predict(grid)
lower, upper = moe.predict_interval(grid, coverage=0.9).T
expert = moe.predict_responsibilities(X, y).argmax(axis=1)

fig, (top, bottom) = plt.subplots(
    2, 1, figsize=(7, 6.5), sharex=True, height_ratios=(3, 1.3)
)
colors = ["tab:blue", "tab:orange"]
top.fill_between(grid[:, 0], lower, upper, color="0.85", label="90% interval")
for i, color in enumerate(colors):
    top.scatter(X[expert == i, 0], y[expert == i], s=4, color=color, alpha=0.5)
    used = np.where(gate[:, i] >= 0.05, lines[:, i], np.nan)
    top.plot(grid[:, 0], lines[:, i], color=color, lw=0.8, alpha=0.4)
    top.plot(grid[:, 0], used, color=color, lw=2, label=f"expert {i}")
top.plot(grid[:, 0], mean, color="black", lw=1.5, ls="--", label="predict (mean)")
top.set_ylim(-8, 18)
top.set_ylabel("y")
top.legend(loc="upper left", ncols=2, fontsize="small")
top.set_title("Points coloured by their most responsible expert")
for i, color in enumerate(colors):
    bottom.plot(grid[:, 0], gate[:, i], color=color, label=f"gate of expert {i}")
bottom.set_xlabel("x")
bottom.set_ylabel(r"$\pi_i(x)$")
bottom.legend(loc="center right", fontsize="small")
fig.tight_layout()

# %%
# Coverage of the interval
# ------------------------
# On fresh data from the same model, about 90% of the responses fall inside
# the interval.
X_new, y_new = make_moe_regression(n_samples=5000, random_state=1)
lo, hi = moe.predict_interval(X_new, coverage=0.9).T
print(f"empirical coverage: {np.mean((lo <= y_new) & (y_new <= hi)):.3f}")

plt.show()
