"""What the model-selection routines share: checks of their input, the seeds
of their fits, their parallel runs, and one fit whose warnings are recorded."""

import numbers
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

#: Default number of starts per fit in :func:`select_n_experts` and
#: :func:`bootstrap_lrt` (the estimator's own default is 30): on mcycle the sweep
#: k = 1..8 with 10 starts reaches the same BIC choice at half the time.
SELECTION_N_INIT = 10

#: Default number of screened starts run to the end (the estimator's
#: ``n_refine``, whose own default is 10): with 10 starts screened down to 2, a
#: sweep k = 1..6 at n = 1e5 takes 80 s on 2 cores instead of 250 s.
SELECTION_N_REFINE = 2

#: The warnings of a fit that are recorded per fit instead of being shown.
_RECORDED = {"SpuriousFitWarning": "spurious", "ConvergenceWarning": "not_converged",
             "GateSeparationWarning": "separated", "UserWarning": "degenerate"}


def _check_Xy(X, y, sample_weight):
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        raise ValueError("X must be 2-D of shape (n_samples, n_features); with one "
                         "feature pass X.reshape(-1, 1).")
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be 2-D and y 1-D with one value per row of X; got "
                         f"shapes {X.shape} and {y.shape}.")
    if sample_weight is None:
        w = np.ones(X.shape[0])
    else:
        w = np.asarray(sample_weight, dtype=float)
        if w.shape != y.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("sample_weight must be finite, non-negative and have "
                             f"one value per sample ({y.shape[0]}).")
    return X, y, w


def _check_ks(n_experts):
    """The numbers of experts as a sorted list of distinct positive ints."""
    if isinstance(n_experts, numbers.Integral) and not isinstance(n_experts, bool):
        n_experts = [n_experts]
    try:
        values = list(n_experts)
    except TypeError:
        raise ValueError(f"n_experts must be an integer or a list of them, e.g. "
                         f"range(1, 9); got {n_experts!r}.") from None
    if not values:
        raise ValueError("n_experts is empty; give at least one number of experts, "
                         "e.g. range(1, 9).")
    bad = [v for v in values if isinstance(v, bool)
           or not isinstance(v, numbers.Integral | np.integer) or v < 1]
    if bad:
        raise ValueError(f"n_experts must hold positive integers; got {bad[:3]!r} "
                         f"in {n_experts!r}.")
    return sorted({int(v) for v in values})


def _check_room(ks, n_positive, n_features):
    """Refuse k whose model has more parameters than there are samples."""
    k_max = max(ks)
    m = (k_max - 1) * (n_features + 1) + k_max * (n_features + 2)
    if m >= n_positive:
        fit = [k for k in ks
               if (k - 1) * (n_features + 1) + k * (n_features + 2) < n_positive]
        hint = (f"use at most {max(fit)} experts" if fit
                else "the data are too few for any mixture of experts")
        raise ValueError(
            f"n_experts={k_max} needs {m} free parameters but the data have "
            f"{n_positive} samples (with positive weight); {hint}, or more data.")


def _seed_for(entropy, k, stream=0):
    """The random state of the fit with k experts: a child of one SeedSequence
    keyed by k (and a stream number), so that it depends neither on the order
    of the fits nor on the number of workers."""
    seq = np.random.SeedSequence(entropy, spawn_key=(int(stream), int(k)))
    return int(seq.generate_state(1)[0])


def _entropy_of(random_state):
    """The entropy of the SeedSequence behind a ``random_state``."""
    if random_state is None:
        return np.random.SeedSequence().entropy
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int64).max))
    raise ValueError("random_state must be None, an int, a numpy RandomState or "
                     f"Generator; got {random_state!r}.")


def _show_progress(progress):
    if progress is None:
        return sys.stderr.isatty()
    return bool(progress)


def _run(tasks, n_jobs, progress, desc):
    """Run ``tasks`` (callables) with joblib, in order, under a tqdm bar."""
    from joblib import Parallel, delayed

    bar = None
    if _show_progress(progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), desc=desc, leave=False)
    results = []
    runner = Parallel(n_jobs=n_jobs, return_as="generator")
    for result in runner(delayed(task)() for task in tasks):
        results.append(result)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return results


def _fit_recorded(k, X, y, w, seed, estimator_params):
    """Fit k experts; record its warnings instead of showing them."""
    from gmoe.estimator._estimator import GaussianMoERegressor
    from gmoe.estimator._warnings import GateSeparationWarning, SpuriousFitWarning

    params = {"n_init": SELECTION_N_INIT, "n_refine": SELECTION_N_REFINE,
              **estimator_params}
    if params.get("top_k") is not None and params["top_k"] > k:
        params["top_k"] = k  # a top-K gate over k <= K experts is the dense gate
    model = GaussianMoERegressor(k, random_state=seed, **params)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y, sample_weight=w)
    elapsed = time.perf_counter() - start
    counts = dict.fromkeys(_RECORDED.values(), 0)
    messages = []
    for item in caught:
        if issubclass(item.category, SpuriousFitWarning):
            counts["spurious"] += 1
        elif issubclass(item.category, ConvergenceWarning):
            counts["not_converged"] += 1
        elif issubclass(item.category, GateSeparationWarning):
            counts["separated"] += 1
        elif issubclass(item.category, UserWarning):
            counts["degenerate"] += 1
        line = f"{item.category.__name__}: {str(item.message).splitlines()[0]}"
        if line not in messages:
            messages.append(line)
    return model, elapsed, counts, messages
