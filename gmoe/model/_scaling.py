"""The affine standardisation of the data the engine fits in, and the map of
the parameters between it and the data's units."""

import numpy as np

from gmoe.gates import Softmax


class _Scaling:
    """Affine standardisation of X and y, and the map of parameters through it.

    Internally ``x_s = (x - x_mean) / x_scale`` and ``y_s = (y - y_mean) / y_scale``.
    A standardised parameter set ``(gate, coef, var)`` (rows ``(intercept, slopes)``)
    maps to the original units as

    - gate slopes ``beta_1 / x_scale``,
      intercept ``beta_0 - beta_1 . x_mean / x_scale``;
    - expert slopes ``y_scale a / x_scale``,
      intercept ``y_mean + y_scale (b - a . x_mean / x_scale)``;
    - variance ``y_scale^2 var``.
    """

    def __init__(self, X, y, w):
        total = w.sum()
        self.x_mean = w @ X / total
        x_scale = np.sqrt(w @ (X - self.x_mean) ** 2 / total)
        self.x_scale = np.where(x_scale > 0, x_scale, 1.0)
        #: weighted second moment of the standardised covariates (their mean is 0)
        Z = (X - self.x_mean) / self.x_scale
        self.x_second = (w[:, None] * Z).T @ Z / total
        self.y_mean = w @ y / total
        y_scale = np.sqrt(w @ (y - self.y_mean) ** 2 / total)
        self.y_scale = y_scale if y_scale > 0 else 1.0

    def design(self, X):
        return np.column_stack([np.ones(X.shape[0]), (X - self.x_mean) / self.x_scale])

    def response(self, y):
        return (y - self.y_mean) / self.y_scale

    def experts_to_original(self, coef, var):
        """Expert rows ``(b, a)`` and variances in the original units."""
        shift = self.x_mean / self.x_scale
        expert_coef = self.y_scale * coef[:, 1:] / self.x_scale
        expert_intercept = self.y_mean + self.y_scale * (coef[:, 0]
                                                         - coef[:, 1:] @ shift)
        return {
            "expert_intercept": expert_intercept,
            "expert_coef": expert_coef,
            "expert_variance": self.y_scale**2 * var,
        }

    def to_standardized(self, params):
        """Softmax-gate parameters (a dict in the original units) as standardised
        ``(gate, coef, var)`` arrays."""
        return (Softmax().from_original(params, self),
                *self.experts_to_standardized(params))

    def experts_to_standardized(self, params):
        """Inverse of :meth:`experts_to_original` (from a parameter dict)."""
        expert_coef = (
            np.asarray(params["expert_coef"], dtype=float) * self.x_scale / self.y_scale
        )
        expert_intercept = (
            np.asarray(params["expert_intercept"], dtype=float)
            + np.asarray(params["expert_coef"], dtype=float) @ self.x_mean
            - self.y_mean
        ) / self.y_scale
        coef = np.column_stack([expert_intercept, expert_coef])
        var = np.asarray(params["expert_variance"], dtype=float) / self.y_scale**2
        return coef, var
