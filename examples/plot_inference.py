"""
Standard errors, confidence intervals and bands
===============================================

Fit a two-expert mixture of experts to data from the [N23]_ truth, print the
summary table of its parameters (Wald, sandwich and bootstrap), and draw two
different intervals on one plot: the confidence band of the mean function
:math:`E[y \\mid x]` (where the true mean function lies) and the predictive
interval of a new :math:`y` (where a new observation falls).
"""

# %%
# Fit and summary table
# ---------------------
# ``summary`` needs the training data (the estimator does not keep it).  Its
# rows are the parameters in the original units; the gate rows are relative to
# the last expert, whose own gate row is zero and has no standard error.
import matplotlib.pyplot as plt
import numpy as np

from gmoe import GaussianMoERegressor, format_summary
from gmoe.datasets import make_moe_regression

X, y = make_moe_regression(n_samples=1000, random_state=0)
moe = GaussianMoERegressor(n_experts=2, random_state=1).fit(X, y)
print(format_summary(moe.summary(X, y)))

# %%
# Three methods side by side
# --------------------------
# The sandwich :math:`I^{-1} J I^{-1}` is robust to a misspecified model; the
# bootstrap refits the model on resampled rows, starting each refit from this
# fit.  With a correct model and enough data the three agree.
wald = moe.inference(X, y)
sandwich = moe.inference(X, y, method="sandwich")
boot = moe.inference(X, y, method="bootstrap", n_boot=100, random_state=0)
table = wald.summary()[["parameter", "expert", "estimate"]].assign(
    wald=wald.summary()["std_error"],
    sandwich=sandwich.summary()["std_error"],
    bootstrap=boot.summary()["std_error"],
)
print(table.round(4).to_string(index=False))

# %%
# Confidence band of the mean against the predictive interval
# -----------------------------------------------------------
# The band of the mean (delta method, and the bootstrap percentiles) is narrow
# where one expert dominates and widens near the switch of the gate, where the
# mean depends on the gate's parameters.  The 90% predictive interval
# (``predict_interval``) is about a new ``y``: it includes the experts' noise and,
# near the switch, both branches.
grid = np.linspace(0, 1, 300)[:, None]
mean = moe.predict(grid)
band = wald.predict_mean_interval(grid, level=0.95)
band_boot = boot.predict_mean_interval(grid, level=0.95)
predictive = moe.predict_interval(grid, coverage=0.9)

fig, (ax, zoom) = plt.subplots(1, 2, figsize=(10, 4))
for axis in (ax, zoom):
    axis.scatter(X[:, 0], y, s=4, color="0.7", label="data")
    axis.fill_between(grid[:, 0], predictive[:, 0], predictive[:, 1],
                      color="tab:orange", alpha=0.25,
                      label="90% predictive interval of y")
    axis.fill_between(grid[:, 0], band[:, 0], band[:, 1], color="tab:blue",
                      alpha=0.5, label="95% band of the mean (Wald)")
    axis.plot(grid[:, 0], band_boot, color="tab:blue", lw=0.8, ls="--")
    axis.plot(grid[:, 0], mean, color="k", lw=1, label="fitted mean")
    axis.set_xlabel("x")
ax.set_ylabel("y")
ax.legend(loc="upper right", fontsize=8)
ax.set_title("mean band and predictive interval")
zoom.set_xlim(0.25, 0.4)
zoom.set_ylim(-2, 12)
zoom.set_title("zoom on the switch (dashed: bootstrap band)")
fig.tight_layout()
plt.show()
