"""
Voronoi cells of an over-fitted mixture of experts
==================================================

Fit ten experts to data from three, then ask which fitted experts stand for which
true expert, and how far the fit is from the truth in the losses whose rates
[N23]_ proves.

The truth has one covariate on :math:`[-1, 1]` and three clearly separated
linear experts, each in charge of about a third of the interval through the
softmax gate: :math:`y = 1 + 4x` (noise standard deviation 0.2) on the left,
:math:`y = -5x` (0.3) in the middle, :math:`y = -1 + 4x` (0.25) on the right.
Their atoms :math:`(\\beta_1, a, b, \\sigma)` are far apart, so each fitted
expert has an unambiguous nearest true expert.
"""

# %%
# Truth, data and an over-fitted fit
# ----------------------------------
# The gate logits are :math:`-6x - 2`, :math:`0` and :math:`6x - 2`, written with
# the last expert as reference (gate ``(0, 0)``): the middle expert leads on
# :math:`|x| < 1/3`.  The fit keeps all ten experts, so several of them share the
# work of one true expert.
import warnings

import matplotlib.pyplot as plt
import numpy as np

from gmoe import GaussianMoERegressor, MixingMeasure, voronoi_cells, voronoi_loss
from gmoe.plotting import plot_voronoi_cells

truth = MixingMeasure.from_params(
    gate_intercept=[0.0, 2.0, 0.0],
    gate_coef=[[-12.0], [-6.0], [0.0]],
    expert_intercept=[1.0, 0.0, -1.0],
    expert_coef=[[4.0], [-5.0], [4.0]],
    expert_variance=[0.04, 0.09, 0.0625],
)
X, y = truth.sample(4000, low=-1, high=1, random_state=0)
moe = GaussianMoERegressor(n_experts=10, max_iter=1000, random_state=0).fit(X, y)
fitted = MixingMeasure.from_estimator(moe)
print(f"EM iterations: {moe.n_iter_}, converged: {moe.converged_}")

# %%
# Voronoi cells
# -------------
# :func:`gmoe.voronoi_cells` gives, for each fitted expert, the index of the true
# expert whose atom is nearest, once the gate slopes are translated as the loss
# prefers.
cells = voronoi_cells(fitted, truth)
print("cell of each fitted expert:", cells)
print("fitted experts per cell:   ", np.bincount(cells, minlength=truth.n_atoms))

# %%
# Losses and per-parameter errors
# -------------------------------
# :math:`\mathcal D_1` adds plain distances.  :math:`\mathcal D_2` raises them to
# the power :math:`\bar r(M)` (expert intercepts, gate slopes) or
# :math:`\bar r(M)/2` (expert slopes, variances) in a cell of :math:`M > 1`
# atoms.  :math:`\bar r(M)` is known for :math:`M \le 3` only; a cell of four
# atoms uses the default :math:`2M = 8` and says so with a warning.
#
# ``return_details=True`` gives the pieces, among them the largest error of each
# parameter group in each cell (the worst fitted expert of the cell, often one
# with little weight).  The cell weights and the expert parameters are close to
# the truth.  The gate slopes of atoms sharing a cell are not: the data barely
# tell apart experts that make nearly the same predictions.  These are the
# slowest rates of the theory (:math:`n^{-1/(2\bar r)}`), and raised to the power
# :math:`\bar r` they dominate :math:`\mathcal D_2`.
d1 = voronoi_loss(fitted, truth, "D1")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    details = voronoi_loss(fitted, truth, "D2", return_details=True)
for warning in caught:
    print(f"{warning.category.__name__}: {warning.message}")
print(f"D1 = {d1:.4g}   D2 = {details.value:.4g}")
print("cell  M  weight  true weight  |d beta1|  |d a|   |d b|  |d sigma|")
errors = details.group_errors
for j in range(truth.n_atoms):
    print(f"{j:4d} {details.cell_sizes[j]:2d} {details.weight_sums[j]:7.3f} "
          f"{details.true_weights[j]:12.3f} {errors['gate_coef'][j]:10.3g} "
          f"{errors['expert_coef'][j]:6.3g} {errors['expert_intercept'][j]:7.3g} "
          f"{errors['expert_variance'][j]:9.3g}")

# %%
# The picture
# -----------
# Each fitted line takes the colour of its cell and is opaque where its gate
# probability is high, faint where the gate ignores it; its width grows with the
# share of the interval its expert is in charge of.  The true lines are dashed.
# Within a cell, the fitted experts divide the true expert's part of the interval
# between them, each close to the true line where it is in charge.
fig, ax = plt.subplots(figsize=(8, 5.2))
plot_voronoi_cells(fitted, truth, X, y, ax=ax)
fig.tight_layout()
plt.show()
