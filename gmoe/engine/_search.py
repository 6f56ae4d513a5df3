"""The start search of a fit: the starts, screened ("emEM") down to the few
that run to the end, and the checks of a fit's regularity (irregular experts,
experts the gate separates completely)."""

import numpy as np

from gmoe.engine._em import params_from_responsibilities
from gmoe.engine._moves import improve_by_moves
from gmoe.engine._solvers import screen
from gmoe.engine._starts import AUTO_CYCLE, INITIALIZERS
from gmoe.model._order import SAME_END_RTOL, better_fit

#: The screening stage of a search works on a random subsample of at most this
#: many samples (see :func:`search_starts`).
SCREEN_MAX_SAMPLES = 5000

#: The default search (``n_init=None``, ``n_refine=None``): this many starts,
#: and this many of them run to the end; twice as many of both on at most
#: :data:`SMALL_DATA` samples, where a start costs milliseconds (see
#: :func:`search_sizes`).
DEFAULT_N_INIT, DEFAULT_N_REFINE = 30, 10
SMALL_DATA = 2000

#: The default rounds of moves (split-and-merge, then sample moves) after the
#: search (``n_split_merge=None``) on at most :data:`SMALL_DATA` samples (none
#: above), and how many of a round's screened moves are run to the end.
DEFAULT_SPLIT_MERGE, SPLIT_MERGE_REFINE = 1, 3

#: EM iterations a move gets in the screening (successive halving, see
#: :func:`gmoe.engine._moves.improve_by_moves`).
SPLIT_MERGE_SCREEN_ITER = 50

#: The moves start from this many of the search's best distinct ends, each in
#: turn (:func:`run_search`): on small data the best end is often no closer,
#: by moves, to the best optimum than the second best is (the real-data panel,
#: 20 seeds per case: CO2data with three experts from 14 to 20 hits, mcycle
#: with five and six experts from 8 and 10 to 12 and 14; benchmarks/README.md).
MOVE_ENDS = 2


def search_sizes(estimator, n_samples):
    """``(n_init, n_refine, n_split_merge)`` of ``estimator``'s search on
    ``n_samples`` samples: the estimator's own, or by default
    :data:`DEFAULT_N_INIT` starts of which :data:`DEFAULT_N_REFINE` are run to
    the end, doubled on at most :data:`SMALL_DATA` samples, and there
    :data:`DEFAULT_SPLIT_MERGE` rounds of moves.  An explicit
    ``n_init`` is a protocol of its own (a study's, a figure's): it gets no
    moves unless ``n_split_merge`` asks for them.  Rules on the size of
    the data, not a time budget, so that the same data give the same fit on any
    machine (``benchmarks/README.md`` has the panel's numbers)."""
    small = n_samples <= SMALL_DATA
    scale = 2 if small else 1
    n_init = (DEFAULT_N_INIT * scale if estimator.n_init is None
              else estimator.n_init)
    n_refine = (DEFAULT_N_REFINE * scale if estimator.n_refine is None
                else estimator.n_refine)
    if estimator.n_split_merge is not None:
        rounds = estimator.n_split_merge
    else:
        rounds = DEFAULT_SPLIT_MERGE if small and estimator.n_init is None else 0
    return n_init, n_refine, rounds


#: An expert whose variance is below this fraction of the (weighted) variance of y
#: is irregular: on the real-data panel, such experts fit a handful of points
#: (spurious maxima), while real narrow regimes (tonedata's correctly tuned trials,
#: mcycle's pre-impact stretch) sit at 2e-4 to 1e-3.
SPURIOUS_VARIANCE_RATIO = 1e-4


def rounding_variance(y):
    """The variance that rounding to the grid of ``y`` adds to it: ``h**2 / 12``
    for a grid of step ``h`` (Sheppard's correction), ``h`` the smallest gap
    between distinct values of ``y`` (0 with fewer than two).

    An expert whose variance is below it fits the recording grid, not a regime:
    on integer data (``h = 1``) a line through a few samples whose responses
    happen to lie on it within 0.29 has no counterpart in continuous data.  On
    continuous data ``h`` is tiny and the rule does not act.

    Examples
    --------
    >>> round(rounding_variance(np.array([54.0, 79.0, 74.0, 62.0, 79.0])), 4)
    2.0833
    >>> rounding_variance(np.array([1.0, 1.0]))
    0.0
    """
    values = np.unique(y)
    if values.size < 2:
        return 0.0
    step = float(np.min(np.diff(values)))
    return step * step / 12.0


def regular_floor(reg_variance, y):
    """The variance at or below which an expert is irregular (standardised
    units): the larger of the floor ``reg_variance`` and the
    :func:`rounding_variance` of the (standardised) responses ``y``."""
    return max(reg_variance, rounding_variance(y))


def _irregular_experts(params, resp, w, var_lower, n_features):
    """Experts with a variance at the floor ``var_lower`` (see
    :func:`regular_floor`) or below ``SPURIOUS_VARIANCE_RATIO`` (the variances
    are in standardised units, those of y being 1), or with fewer effective
    samples (``sum_n w_n tau_ni``) than ``n_features + 3`` (their
    ``n_features + 2`` parameters and one more); (k,) bool."""
    effective = w @ resp
    floor = max(var_lower * (1 + 1e-9), SPURIOUS_VARIANCE_RATIO)
    return (effective < n_features + 3) | (params.var <= floor)


def regularity(w, reg_variance, n_features):
    """``is_regular(params, resp) -> bool``: no expert of the fit is irregular
    (:func:`_irregular_experts`, sample weights ``w``, variance floor
    ``reg_variance``)."""
    def is_regular(params, resp):
        return not np.any(_irregular_experts(params, resp, w, reg_variance,
                                             n_features))
    return is_regular


#: A pair of experts is separated by the gate when, at every sample where they
#: are the two most probable experts, the smaller of their two probabilities is
#: below this fraction of their sum.
SEPARATION_RATIO = 1e-6


def _separated_pairs(scores, w):
    """Pairs ``(i, j)`` of experts that the gate separates completely.

    At every sample (of positive weight) where ``i`` and ``j`` are the two most
    probable experts, ``min(pi_i, pi_j) / (pi_i + pi_j) < SEPARATION_RATIO``, and
    each of them wins at one such sample at least: the gate is a step between them.
    """
    k = scores.shape[1]
    if k < 2:
        return []
    logits = scores[w > 0]
    top = np.argsort(logits, axis=1)[:, -2:]
    pairs = []
    for i in range(k):
        for j in range(i + 1, k):
            rows = ((top[:, 0] == i) & (top[:, 1] == j)) | (
                (top[:, 0] == j) & (top[:, 1] == i))
            if not rows.any():
                continue
            gap = logits[rows, i] - logits[rows, j]
            sharp = np.abs(gap) > -np.log(SEPARATION_RATIO)
            if sharp.all() and (gap > 0).any() and (gap < 0).any():
                pairs.append((i, j))
    return pairs


def search_starts(estimator, model, rng, n_features, gate, n_experts, floor):
    """The starts to run to the end for ``estimator`` (a
    :class:`gmoe.GaussianMoERegressor`) on ``model``: ``n_init`` starts, screened
    ("emEM") down to ``n_refine`` when there are more (:func:`search_sizes`).

    The screening stage (making the starts and their ``n_screen_iter`` EM
    iterations) works on a random subsample of at most
    ``SCREEN_MAX_SAMPLES`` samples, so that its cost does not grow with n.
    A gate whose :meth:`~gmoe.gates.Gate.screening_gate` is another one
    (another likelihood on the same blocks) has its starts made and screened
    by that one's M-step and EM, the end points ranked by this model's
    likelihood.  ``n_experts``: the number of experts in all; ``floor``: the
    variance floor of the regularity rule (:func:`regular_floor`).
    """
    k = n_experts
    n_init, n_refine, _ = search_sizes(estimator, model.n_samples)
    screening = n_init > n_refine and estimator.n_screen_iter > 0
    search = model
    if screening and model.n_samples > SCREEN_MAX_SAMPLES:
        rows = np.sort(rng.choice(model.n_samples, SCREEN_MAX_SAMPLES,
                                  replace=False))
        search = model.subset(rows)
    Z = np.column_stack([search.Xt[:, 1:], search.y])
    kinds = AUTO_CYCLE if estimator.init_params == "auto" else (estimator.init_params,)
    screener = gate.screening_gate()
    twin = None if screener is gate else search.with_gate(screener)
    starts = []
    for index in range(n_init):
        start_rng = np.random.RandomState(rng.randint(np.iinfo(np.int32).max))
        resp = INITIALIZERS[kinds[index % len(kinds)]](Z, search.w, k, start_rng)
        starts.append(params_from_responsibilities(
            search if twin is None else twin, resp))
    if not screening:
        return starts if twin is None else [model.project(p) for p in starts]

    is_regular = regularity(search.w, floor, n_features)
    kept, _ = screen(search, starts, n_iter=estimator.n_screen_iter,
                     n_keep=n_refine, is_regular=is_regular, twin=twin)
    return kept


def refine(model, starts, solve, options, is_regular, *, verbose=0, offset=0.0,
           label="start"):
    """Every start run to the end by ``solve``; the best end.

    Ends are compared by :func:`gmoe.model._order.better_fit` on
    ``(regular, objective)``: a regular end beats an irregular one, and an equal
    optimum never replaces an earlier one.  Returns ``(result, key, resp)``: the
    solver's :class:`gmoe.engine._solvers.FitResult`, its key and its
    responsibilities (n, k).  ``offset`` is subtracted from the objectives that
    ``verbose`` prints (the data's units), each line headed by ``label``.
    """
    ends = refine_ends(model, starts, solve, options, is_regular, n_ends=1,
                       verbose=verbose, offset=offset, label=label)
    return ends[0] if ends else (None, None, None)


def refine_ends(model, starts, solve, options, is_regular, *, n_ends, verbose=0,
                offset=0.0, label="start"):
    """Every start run to the end by ``solve``; the ``n_ends`` best distinct
    ends, best first.

    As :func:`refine`: ends are ranked by ``(regular, objective)``
    (:func:`gmoe.model._order.better_fit`: the earlier start wins ties), so the
    first is :func:`refine`'s.  Two ends whose regularity agrees and whose
    objectives differ by at most :data:`SAME_END_RTOL` times the total weight
    are one optimum, kept once (its better run).  Returns a list of
    ``(result, key, resp)``.
    """
    scale = model.w.sum()
    kept = []
    for index, start in enumerate(starts):
        result = solve(model, start, options)
        resp = np.empty((model.n_samples, start.var.size))
        model.e_step(result.params, resp, resp)
        key = (is_regular(result.params, resp), result.objective)
        if verbose:
            print(f"{label} {index + 1}/{len(starts)}: {result.n_iter_em} EM and "
                  f"{result.n_iter_newton} Newton iterations, "
                  f"converged={result.converged}, regular={key[0]}, "
                  f"log-likelihood {result.objective - offset:.6f}")
        same = [i for i, (_, other, _) in enumerate(kept) if key[0] == other[0]
                and abs(key[1] - other[1]) <= SAME_END_RTOL * scale]
        if same:  # an optimum kept already: keep the better run of it
            if not better_fit(key, kept[same[0]][1], scale=scale):
                continue
            del kept[same[0]]
        place = next((i for i, (_, other, _) in enumerate(kept)
                      if better_fit(key, other, scale=scale)), len(kept))
        kept.insert(place, (result, key, resp))
        del kept[n_ends:]
    return kept


def run_search(estimator, model, rng, n_features, gate, n_experts, solve, options,
               floor, *, offset=0.0):
    """The whole search of a fit: the starts (:func:`search_starts`), run to the
    end (:func:`refine`), then rounds of moves (split-and-merge, sample moves)
    from each of the :data:`MOVE_ENDS` best distinct ends in turn
    (:func:`gmoe.engine._moves.improve_by_moves`, ``n_split_merge`` rounds); the
    best result (the earlier on a tie).

    ``n_experts``: the number of experts in all; ``floor``: the variance floor
    of the regularity rule (:func:`regular_floor`).  Returns ``(result, key,
    resp)`` of the best fit, the number of starts run to the end and the number
    of moves accepted.
    """
    _, n_refine, rounds = search_sizes(estimator, model.n_samples)

    is_regular = regularity(model.w, floor, n_features)

    def run(starts, label="start"):
        return refine(model, starts, solve, options, is_regular,
                      verbose=estimator.verbose, offset=offset, label=label)

    starts = search_starts(estimator, model, rng, n_features, gate, n_experts,
                           floor)
    ends = refine_ends(model, starts, solve, options, is_regular,
                       n_ends=MOVE_ENDS if rounds else 1,
                       verbose=estimator.verbose, offset=offset)
    screener = gate.screening_gate()
    twin = None if screener is gate else model.with_gate(screener)
    fit, accepted = ends[0], 0
    for index, end in enumerate(ends):
        moved, n_moved = improve_by_moves(
            model, end, lambda starts: run(starts, "move"), n_rounds=rounds,
            n_iter=SPLIT_MERGE_SCREEN_ITER, n_keep=min(SPLIT_MERGE_REFINE, n_refine),
            is_regular=is_regular, options=options, rng=rng, twin=twin)
        if index == 0 or better_fit(moved[1], fit[1], scale=model.total):
            fit, accepted = moved, n_moved
    return fit, len(starts), accepted
