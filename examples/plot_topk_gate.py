"""
A top-K sparse softmax gate and its routing
===========================================

Draw data from a mixture of four experts with a top-2 sparse softmax gate
[N24k]_ (:data:`gmoe.datasets.TOPK_TRUTH`, two covariates on the unit square),
fit it with ``top_k=2``, and look at how the fitted gate routes the samples:
each sample is shared by at most two experts, and every expert is used.  A dense
softmax gate fitted to the same data is shown for comparison.
"""

# %%
# Data and fit
# ------------
# ``make_moe_regression(..., top_k=2)`` draws each sample's expert from the
# softmax of its two largest gate scores.  ``GaussianMoERegressor(top_k=2)``
# fits that model by maximum likelihood.
import warnings

import matplotlib.pyplot as plt
import numpy as np

from gmoe import GaussianMoERegressor
from gmoe.datasets import TOPK_TRUTH, make_moe_regression
from gmoe.plotting import plot_routing

X, y = make_moe_regression(2000, TOPK_TRUTH, random_state=0, top_k=2)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # short runs: convergence is not the point here
    top2 = GaussianMoERegressor(4, top_k=2, solver="em", n_init=4,
                                random_state=0).fit(X, y)
    dense = GaussianMoERegressor(4, solver="em", n_init=4, random_state=0).fit(X, y)
truth = GaussianMoERegressor(4, top_k=2, init_params=TOPK_TRUTH, max_iter=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    truth.fit(X, y)  # max_iter=0: the truth itself, evaluated on the data
print(f"log-likelihood  top-2 fit {top2.log_likelihood_:.1f}   "
      f"dense fit {dense.log_likelihood_:.1f}   truth {truth.log_likelihood_:.1f}")

# %%
# At most two non-zero gate weights per sample
# --------------------------------------------
gate = top2.predict_gate(X)
print("non-zero gate weights per sample:", np.bincount((gate > 0).sum(axis=1)))

# %%
# Routing diagnostics
# -------------------
# Load (mean gate weight), top share, entropy and effective numbers of experts
# (see :func:`gmoe.routing_diagnostics`).
print(top2.routing_report(X))

# %%
# The routing figure, for the top-2 and the dense fit, along the first covariate
# (the second held at its median).
fig, axes = plt.subplots(2, 2, figsize=(10, 7), gridspec_kw={"width_ratios": [1, 1.6]})
plot_routing(top2, X, axes=axes[0])
plot_routing(dense, X, axes=axes[1])
axes[0, 1].set_title("top-2 gate (second covariate at its median)", fontsize=9)
axes[1, 1].set_title("dense softmax gate", fontsize=9)
fig.tight_layout()
plt.show()
