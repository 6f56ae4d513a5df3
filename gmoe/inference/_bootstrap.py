"""Bootstrap refits of a fitted estimator: non-parametric (resampled rows) or
parametric (responses drawn from the fit), each started from the fit and its
experts matched to the fit's."""

import numbers
import warnings

import numpy as np
from sklearn.base import clone

from gmoe.datasets import draw_response
from gmoe.gates._base import identity_scaling
from gmoe.inference._align import align_experts
from gmoe.model._scaling import _Scaling

BOOTSTRAP_KINDS = ("nonparametric", "parametric")


def _draw_response(gate, params, X, rng):
    """y drawn given X from a fitted model of any gate (the softmax gate's own
    sampler, :func:`gmoe.datasets.draw_response`, for that gate)."""
    from gmoe.gates import Softmax

    if type(gate) is Softmax:
        return draw_response(params, X, rng)[0]
    identity = identity_scaling(X.shape[1])
    pi = np.exp(gate.log_weights(gate.features(X, identity),
                                 gate.from_original(params, identity)))
    cumulative = np.cumsum(pi, axis=1)
    u = rng.uniform(size=(X.shape[0], 1)) * cumulative[:, -1:]
    experts = np.minimum(np.sum(cumulative < u, axis=1), pi.shape[1] - 1)
    means = (params["expert_intercept"][experts]
             + np.sum(X * params["expert_coef"][experts], axis=1))
    sd = np.sqrt(params["expert_variance"][experts])
    return means + sd * rng.standard_normal(X.shape[0])


def _bootstrap_one(estimator, X, y, w, kind, seed, start, reference, scaling):
    """One refit: resample, fit from ``start``, align to ``reference``."""
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    gate = estimator._fitted_gate()
    if kind == "nonparametric":
        counts = np.bincount(rng.integers(0, n, size=n), minlength=n)
        w_b, y_b = w * counts, y
    else:
        y_b = _draw_response(gate, reference, X, rng)
        w_b = w
    fit_seed = int(rng.integers(np.iinfo(np.int32).max))
    model = clone(estimator).set_params(init_params=start, n_init=1,
                                        warm_start=False, random_state=fit_seed,
                                        verbose=0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y_b, sample_weight=w_b)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError):
        return None, False
    aligned, _ = align_experts(model._params_dict(), reference,
                               scale_x=scaling.x_scale, scale_y=scaling.y_scale,
                               X=X, sample_weight=w, gate=gate)
    return aligned, bool(model.converged_)


def bootstrap_draws(estimator, X, y, sample_weight=None, *, n_boot=200,
                    kind="nonparametric", random_state=None, n_jobs=1,
                    progress=False):
    """Refit a fitted estimator on ``n_boot`` bootstrap data sets.

    Replicate ``b`` draws its data from ``SeedSequence(random_state).spawn(n_boot)
    [b]``, so the draws do not depend on ``n_jobs``.  ``kind="nonparametric"``
    resamples the rows (with replacement; the sample weights of the drawn rows
    are kept, weights being counts); ``kind="parametric"`` keeps X and draws y
    from the fitted model.  Each refit is a clone of ``estimator`` started from
    its fitted parameters (``init_params`` dict, ``n_init=1``), its experts then
    relabelled by :func:`align_experts`.

    Parameters
    ----------
    estimator : GaussianMoERegressor
        Fitted.
    X : ndarray of shape (n, d)
    y : ndarray of shape (n,)
    sample_weight : ndarray of shape (n,) or None, default=None
    n_boot : int, default=200
    kind : {"nonparametric", "parametric"}, default="nonparametric"
    random_state : int, numpy.random.SeedSequence or None, default=None
    n_jobs : int, default=1
        Worker processes (joblib); -1 uses every core.
    progress : bool, default=False
        Show a progress bar (tqdm).

    Returns
    -------
    draws : dict
        One array per fitted parameter (the gate's attributes and the
        experts'), with a leading axis of length ``n_boot`` (NaN for a refit
        that failed), and
        ``"converged"`` (n_boot,) bool.

    Examples
    --------
    >>> from gmoe import GaussianMoERegressor
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(500, random_state=0)
    >>> moe = GaussianMoERegressor(2, n_init=3, random_state=1).fit(X, y)
    >>> draws = bootstrap_draws(moe, X, y, n_boot=3, random_state=0)
    >>> draws["expert_coef"].shape
    (3, 2, 1)
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    w = (np.ones(X.shape[0]) if sample_weight is None
         else np.asarray(sample_weight, dtype=float))
    if kind not in BOOTSTRAP_KINDS:
        raise ValueError(f"kind must be one of {BOOTSTRAP_KINDS}; got {kind!r}.")
    if isinstance(random_state, np.random.SeedSequence):
        root = random_state
    elif random_state is None or isinstance(random_state, numbers.Integral):
        root = np.random.SeedSequence(random_state)
    else:
        raise ValueError("random_state must be an int, a numpy.random.SeedSequence "
                         f"or None; got {random_state!r}.")
    seeds = root.spawn(n_boot)
    reference = {name: np.array(value, dtype=float)
                 for name, value in estimator._params_dict().items()}
    scaling = _Scaling(X, y, w)
    args = (X, y, w, kind)
    if n_jobs == 1:
        results = (_bootstrap_one(estimator, *args, seed, reference, reference,
                                  scaling) for seed in seeds)
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(_bootstrap_one)(estimator, *args, seed, reference, reference,
                                    scaling) for seed in seeds)
    if progress:
        from tqdm.auto import tqdm

        results = tqdm(results, total=n_boot, desc=f"{kind} bootstrap")
    draws = {name: np.full((n_boot,) + value.shape, np.nan)
             for name, value in reference.items()}
    converged = np.zeros(n_boot, dtype=bool)
    for b, (params, ok) in enumerate(results):
        if params is None:
            continue
        for name in reference:
            draws[name][b] = params[name]
        converged[b] = ok
    draws["converged"] = converged
    return draws
