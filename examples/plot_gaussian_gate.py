"""
A Gaussian-gated mixture of experts
===================================

Fit the Gaussian-gated model of [N24g]_ to data from the Type I truth of its
simulations (three experts, one covariate) with both estimators gmoe offers: the
conditional maximum likelihood estimator and the joint-likelihood EM of the
official code.  They agree on the gate *function*; they need not agree on the
gate *parameters*, which the conditional likelihood identifies only up to a
common quadratic added to every score (see :ref:`theory-gaussian-gate`).
"""

# %%
# Data and the two fits
# ---------------------
# :func:`gmoe.draw_gaussian_gate_data` draws ``X`` from the gate's Gaussian
# mixture and ``y`` from the experts.
import matplotlib.pyplot as plt
import numpy as np

from gmoe import (
    N24G_TRUTH_TYPE1,
    GaussianGateMixingMeasure,
    GaussianMoERegressor,
    draw_gaussian_gate_data,
    gaussian_gate_loss,
)
from gmoe.gates._gaussian_maths import gaussian_log_gate

truth = N24G_TRUTH_TYPE1
X, y = draw_gaussian_gate_data(truth, 3000, random_state=0)
fits = {
    likelihood: GaussianMoERegressor(3, gate="gaussian", likelihood=likelihood,
                                     n_init=3, random_state=0).fit(X, y)
    for likelihood in ("joint", "conditional")
}
G_true = GaussianGateMixingMeasure.from_params(**truth)
for likelihood, model in fits.items():
    print(f"{likelihood:>11}: conditional log-likelihood {model.log_likelihood_:.2f}, "
          f"joint {model.joint_log_likelihood_:.2f}, "
          f"loss to the truth {gaussian_gate_loss(model.mixing_measure_, G_true):.3f}")

# %%
# Each estimator wins on its own objective: the conditional fit has the larger
# conditional log-likelihood, the joint fit the larger joint one.
#
# Gate parameters
# ---------------
# The joint fit's Gaussian components estimate the marginal of X; the
# conditional fit reports the representative of its gate whose mixture has the
# mean and second moment of X.
order = {name: np.argsort(m.gate_mean_[:, 0]) for name, m in fits.items()}
print("truth       weights", truth["gate_weight"], "means",
      truth["gate_mean"].ravel(), "variances", truth["gate_covariance"].ravel())
for name, model in fits.items():
    o = order[name]
    print(f"{name:<12}weights", model.gate_weight_[o].round(3), "means",
          model.gate_mean_[o].ravel().round(3), "variances",
          model.gate_covariance_[o].ravel().round(4))

# %%
# Gate functions and experts
# --------------------------
grid = np.linspace(X.min(), X.max(), 400)[:, None]
true_gate = np.exp(gaussian_log_gate(grid, truth["gate_weight"], truth["gate_mean"],
                                     truth["gate_covariance"]))
fig, (ax_gate, ax_data) = plt.subplots(1, 2, figsize=(10, 4))
for j in range(3):
    ax_gate.plot(grid[:, 0], true_gate[:, j], color="k", lw=2, alpha=0.4,
                 label="truth" if j == 0 else None)
for (name, model), style in zip(fits.items(), ("-", "--"), strict=True):
    gate = model.predict_gate(grid)
    for j in range(3):
        ax_gate.plot(grid[:, 0], gate[:, j], style, color=f"C{j}",
                     label=name if j == 0 else None)
ax_gate.set(xlabel="x", ylabel="gate probability", title="gate functions")
ax_gate.legend(fontsize=8)
ax_data.scatter(X[:, 0], y, s=3, alpha=0.3, color="grey")
model = fits["conditional"]
for j, mean in enumerate(model.predict_experts(grid).T):
    ax_data.plot(grid[:, 0], mean, color=f"C{j}")
ax_data.plot(grid[:, 0], model.predict(grid), "k", lw=2, label="E[y | x]")
ax_data.set(xlabel="x", ylabel="y", title="conditional fit: experts and mean")
ax_data.legend(fontsize=8)
fig.tight_layout()
plt.show()
