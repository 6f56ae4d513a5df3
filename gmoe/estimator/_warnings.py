"""The warnings of a fit: no convergence, a gate that separates experts, and
spurious or degenerate experts."""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning


class GateSeparationWarning(UserWarning):
    """The gate separates two experts completely: its MLE does not exist.

    The fitted gate is (numerically) a step between the experts named in the
    message: every sample that either of them could explain goes wholly to one of
    them, and the likelihood keeps rising as the gate slopes grow, so the gate
    parameters reported are large and arbitrary (the predictions are not).  A
    gate penalty (``gate_penalty``) or bound (``gate_bound``) makes them finite.
    """


class SpuriousFitWarning(UserWarning):
    """Every start ended at an irregular fit (an expert at the variance floor or
    with fewer effective samples than its parameters).

    Such a maximum is driven by the variance floor (``reg_variance``) rather than
    by the data; fewer experts, or more starts, usually remove it.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from gmoe import GaussianMoERegressor, SpuriousFitWarning
    >>> X = np.linspace(0, 1, 6)[:, None]
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     model = GaussianMoERegressor(3, random_state=0).fit(X, 2 * X[:, 0])
    >>> any(issubclass(w.category, SpuriousFitWarning) for w in caught)
    True
    """


#: What the ConvergenceWarning says of each way a solver stops short.
STOPPED = {
    "max_iter": "it reached max_iter={max_iter}; raise max_iter",
    "stalled": ("after {n_iter} Newton iterations no step raises the log-likelihood "
                "by more than rounding error (a flat or badly scaled direction); "
                "try other starts or rescale the features"),
    "boundary": ("a crossing of a selection boundary that raises the likelihood "
                 "was left (a sparse gate); raise max_iter or try other starts"),
    "held": ("a sample is held short of its selection boundary (a sparse gate); "
             "raise max_iter"),
    "crawling": ("Newton's steps crossed one selection boundary after another and "
                 "gained less than tol each (a sparse gate); try other starts, or "
                 "a smaller tol"),
}


def warn_about_fit(estimator, n_starts, regular):
    """The warnings of ``estimator``'s finished fit: convergence, separation,
    degeneracy."""
    if not estimator.converged_ and estimator.max_iter > 0:
        criterion = (f"gradient below gtol={estimator.gtol} (reached "
                     f"{estimator.gradient_norm_:.2g})" if estimator.solver == "newton"
                     else f"tol={estimator.tol}")
        why = STOPPED.get(getattr(estimator, "solver_status_", "max_iter"),
                          STOPPED["max_iter"]).format(
            max_iter=estimator.max_iter, n_iter=estimator.n_iter_newton_)
        warnings.warn(
            f"the {estimator.solver} solver did not converge ({criterion}) for the "
            f"best of {n_starts} start(s): {why}.",
            ConvergenceWarning,
            stacklevel=4,
        )
    if estimator.separated_experts_:
        warnings.warn(
            f"the gate separates experts {estimator.separated_experts_} completely "
            "(a step gate): the maximum likelihood estimate of the gate does not "
            "exist and its slopes are large and arbitrary (predictions are not). "
            "Set gate_penalty > 0 or gate_bound for finite gate parameters.",
            GateSeparationWarning,
            stacklevel=4,
        )
    if not regular:
        warnings.warn(
            f"every one of the {n_starts} fitted start(s) has degenerate experts; "
            f"in the best, {np.flatnonzero(estimator.degenerate_experts_).tolist()} "
            "(a tiny variance, or fewer effective samples than their "
            "parameters): a spurious maximum. Fewer experts, more starts "
            "(n_init) or a larger reg_variance may suit these data.",
            SpuriousFitWarning,
            stacklevel=4,
        )
    elif np.any(estimator.degenerate_experts_):
        warnings.warn(
            f"experts {np.flatnonzero(estimator.degenerate_experts_).tolist()} are "
            "degenerate (too little weight, or variance at the floor); they are "
            "kept with finite parameters. Fewer experts may suit these data.",
            UserWarning,
            stacklevel=4,
        )
