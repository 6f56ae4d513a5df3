"""
Choosing the number of experts with BIC and AIC
===============================================

Fit models with :math:`k = 1, \\dots, 5` experts to data drawn from a true model
with :math:`k_0 = 2` experts (the model of the simulations of [N23]) and compare
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
for k in ks:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        moe = GaussianMoERegressor(n_experts=k, n_init=4, random_state=0).fit(X, y)
    fits.append(moe)
    notes = "; ".join(str(w.message).split(";")[0] for w in caught) or "-"
    print(
        f"k={k}  parameters={moe.n_parameters():2d}  "
        f"log-likelihood={moe.log_likelihood_:9.2f}  "
        f"BIC={moe.bic(X, y):8.2f}  AIC={moe.aic(X, y):8.2f}  "
        f"EM iterations={moe.n_iter_:4d}  warnings: {notes}"
    )

bic = np.array([moe.bic(X, y) for moe in fits])
aic = np.array([moe.aic(X, y) for moe in fits])
loglik = np.array([moe.log_likelihood_ for moe in fits])
print(f"BIC chooses k = {ks[bic.argmin()]}, AIC chooses k = {ks[aic.argmin()]}")

# %%
# The criteria against k
# ----------------------
# The log-likelihood can only grow with k (a model with k experts contains every
# model with fewer), so it cannot choose k by itself.  Going from one to two
# experts gains thousands of units of log-likelihood; each further expert gains
# a few, less than BIC's price of :math:`\log n \approx 6.9` per parameter (and 4
# parameters per expert when d = 1).  BIC therefore has a clear minimum at the
# true k = 2.  AIC charges only 2 per parameter, is nearly flat beyond k = 2 and
# is known to over-estimate the number of components of a mixture.
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
left.plot(ks, bic, "o-", label="BIC")
left.plot(ks, aic, "s-", label="AIC")
left.set_yscale("log")
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

plt.show()
