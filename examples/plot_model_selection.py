"""
Choosing the number of experts with BIC and AIC
===============================================

Fit models with :math:`k = 1, \\dots, 5` experts to data drawn from a true model
with :math:`k_0 = 2` experts (the model of the simulations of [N23]_) and compare
them with the Bayesian and Akaike information criteria.  Both are "smaller is
better":

.. math::

    \\mathrm{BIC} = -2 \\log L + m \\log n, \\qquad
    \\mathrm{AIC} = -2 \\log L + 2 m,

where :math:`\\log L` is the conditional log-likelihood at the fitted parameters,
:math:`n` the number of samples and :math:`m = (k - 1)(d + 1) + k (d + 2)` the
number of free parameters (:meth:`gmoe.GaussianMoERegressor.n_parameters`).
"""

# %%
# A sweep over k
# --------------
# Each fit keeps the best of four starts (``n_init=4``): with more experts than
# the data hold the likelihood has many local maxima, and a criterion computed at
# a poor local maximum is meaningless.  Over-fitted models may leave an expert
# with almost no weight; gmoe keeps it and warns, and the warnings are collected
# here so that they can be reported next to the fit they belong to.
import warnings

import matplotlib.pyplot as plt
import numpy as np

from gmoe import GaussianMoERegressor
from gmoe.datasets import make_moe_regression

X, y = make_moe_regression(n_samples=1000, random_state=0)

ks = np.arange(1, 6)
fits = []
print(" k   m  log-likelihood      BIC      AIC  EM iterations")
for k in ks:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        moe = GaussianMoERegressor(n_experts=k, n_init=4, random_state=0).fit(X, y)
    fits.append(moe)
    print(
        f"{k:2d}  {moe.n_parameters():2d}  {moe.log_likelihood_:14.2f}  "
        f"{moe.bic(X, y):7.1f}  {moe.aic(X, y):7.1f}  {moe.n_iter_:13d}"
    )
    for w in caught:
        print(f"        warning: {str(w.message).split(';')[0]}")

bic = np.array([moe.bic(X, y) for moe in fits])
aic = np.array([moe.aic(X, y) for moe in fits])
print(f"BIC chooses k = {ks[bic.argmin()]}, AIC chooses k = {ks[aic.argmin()]}")

# %%
# The criteria against k
# ----------------------
# The log-likelihood can only grow with k (a model with k experts contains every
# model with fewer), so it cannot choose k by itself.  Going from one to two
# experts gains about 2400 units of log-likelihood; each further expert gains a
# few.  With one covariate each expert adds 5 parameters, which BIC charges
# :math:`5 \log n \approx 34.5` (a log-likelihood gain of 17 is needed to pay for
# it) and AIC only 10 (a gain of 5).  BIC therefore has a clear minimum at the
# true k = 2, while AIC is nearly flat beyond k = 2 and, in mixtures, tends to
# choose too many components.
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
left.plot(ks, bic, "o-", label="BIC")
left.plot(ks, aic, "s-", label="AIC")
left.set_xlabel("number of experts k")
left.set_ylabel("criterion (smaller is better)")
left.set_xticks(ks)
left.legend()
left.set_title("All k")

# Zoom on k >= 2, relative to the best value of each criterion.
right.plot(ks[1:], bic[1:] - bic.min(), "o-", label="BIC - min BIC")
right.plot(ks[1:], aic[1:] - aic.min(), "s-", label="AIC - min AIC")
right.axhline(0, color="0.6", lw=0.8)
right.set_xlabel("number of experts k")
right.set_xticks(ks[1:])
right.legend()
right.set_title("k >= 2, relative to the minimum")
fig.tight_layout()

# %%
# The chosen model
# ----------------
# The model chosen by BIC is an ordinary fitted estimator; its parameters can be
# read as in :ref:`fitted_model`.
best = fits[int(bic.argmin())]
print("expert slopes   ", best.expert_coef_.ravel().round(2))
print("expert variances", best.expert_variance_.round(3))

# %%
# The same sweep in one call
# --------------------------
# :func:`gmoe.select_n_experts` runs the sweep (in parallel with ``n_jobs``,
# each k with its own seed), records the warnings of each fit in its table,
# never chooses a fit with degenerate experts over a regular one, and also
# offers ICL and the dendrogram criterion DSC (one fit with the largest k);
# see :ref:`model_selection`.
from gmoe import select_n_experts  # noqa: E402

selection = select_n_experts(X, y, ks, n_init=4, random_state=0)
print(selection.results_[["n_experts", "bic", "icl", "aic", "n_warnings"]]
      .round(1).to_string(index=False))
print(f"select_n_experts chooses k = {selection.n_experts_}")

plt.show()
