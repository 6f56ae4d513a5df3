"""Moves on a fitted model, after the start search: split-and-merge moves and
sample moves (boundary and small-expert moves).

A local optimum of a mixture often puts two experts where one regime is and one
expert across two regimes.  EM cannot leave such a point: it would have to move
three experts at once.  A split-and-merge move does (SMEM: Ueda, Nakano,
Ghahramani and Hinton, *Neural Computation* 12, 2000): it merges two experts
``i`` and ``j`` into ``i``, splits a third expert ``l`` into ``j`` and ``l``, and
runs EM from there.  Here every such move is tried (for ``k`` experts,
``k (k - 1) (k - 2)`` of them, each expert split in two ways), the candidates are
screened by short EM runs like the starts of the search, the most promising are
run to the end, and the best end replaces the fit when it is better
(:func:`gmoe.model._order.better_fit`: regular first, then higher likelihood
beyond the tie tolerance).

A fit whose gate separates experts sharply (a step between them, as over-fitted
fits on small data often have) has a local maximum for nearly every position
of each step between two neighbouring samples: EM and Newton cannot move a
step across a sample, since the gate's gradient vanishes there.  A boundary
move does: it gives the samples nearest a boundary between experts ``a`` and
``b`` (1, 2, 4 or 8 of them, :data:`BOUNDARY_JUMPS`) to ``b``, and runs the
fit to the end from there, the moved samples held there for the first EM
iterations (:func:`boundary_responsibilities`).  Likewise an
expert of a few samples is decided by which samples it holds: a small-expert
move gives one of them to another expert, or one more to it
(:func:`small_expert_responsibilities`), and a line move seats it on one of
the sets of samples that lie tightest along a line
(:func:`line_responsibilities`).  Sweeps of these sample moves follow
the split-and-merge move of each round, until none gains
:data:`BOUNDARY_MIN_GAIN`.  Rounds repeat until no move improves.
"""

import itertools
import math

import numpy as np

from gmoe.engine._em import m_step, params_from_responsibilities, run_em
from gmoe.engine._solvers import screen
from gmoe.model._order import better_fit, rank_fits


def split_halves(model, tau):
    """Two ways to split an expert in two: its samples above and below its
    weighted least-squares line, and its samples on either side of their
    weighted mean along the first principal axis of x.

    Parameters
    ----------
    model : the engine's model (``Xt`` (n, p) the design with its intercept
        column first, ``y`` (n,), ``w`` (n,))
    tau : ndarray of shape (n,)
        The expert's responsibilities.

    Returns
    -------
    list of ndarray of shape (n,)
        Indicators (0.0 or 1.0) of one half of each split; none when the expert
        holds no weight.  The principal axis is signed so that its largest entry
        is positive (the same split on every machine).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> x = np.linspace(-1, 1, 6)
    >>> model = SimpleNamespace(Xt=np.column_stack([np.ones(6), x]),
    ...                         y=np.array([0., 1, 0, 1, 0, 1]), w=np.ones(6))
    >>> [half.astype(int).tolist() for half in split_halves(model, np.ones(6))]
    [[0, 1, 0, 1, 0, 1], [0, 0, 0, 1, 1, 1]]
    """
    t = tau * model.w
    total = t.sum()
    if not total > 0:
        return []
    design = model.Xt
    gram = (design * t[:, None]).T @ design
    gram[np.diag_indices_from(gram)] += 1e-10 * total
    coef = np.linalg.solve(gram, (design * t[:, None]).T @ model.y)
    halves = [model.y > design @ coef]
    x = design[:, 1:]
    if x.shape[1]:
        centred = x - t @ x / total
        axis = np.linalg.eigh((centred * t[:, None]).T @ centred)[1][:, -1]
        axis = axis * np.sign(axis[np.argmax(np.abs(axis))])
        halves.append(centred @ axis > 0)
    return [half.astype(float) for half in halves]


def split_merge_responsibilities(model, resp):
    """The responsibilities of every split-and-merge move from ``resp``.

    For each expert ``l``, each of its :func:`split_halves` ``h`` and each pair
    ``i < j`` of the other experts: column ``i`` takes ``tau_i + tau_j``, column
    ``j`` takes ``h tau_l`` and column ``l`` takes ``(1 - h) tau_l``.

    Parameters
    ----------
    model : the engine's model (see :func:`split_halves`)
    resp : ndarray of shape (n, k)
        Responsibilities of the fitted model.

    Returns
    -------
    list of ndarray of shape (n, k)
        ``k (k - 1) (k - 2)`` candidates at most (none when ``k < 3``); each row
        still sums to one.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> x = np.linspace(-1, 1, 6)
    >>> model = SimpleNamespace(Xt=np.column_stack([np.ones(6), x]),
    ...                         y=x ** 2, w=np.ones(6))
    >>> resp = np.full((6, 3), 1 / 3)
    >>> moves = split_merge_responsibilities(model, resp)
    >>> len(moves), np.allclose([m.sum(axis=1) for m in moves], 1)
    (6, True)
    """
    k = resp.shape[1]
    candidates = []
    for split in range(k):
        others = [i for i in range(k) if i != split]
        for half, (i, j) in itertools.product(split_halves(model, resp[:, split]),
                                              itertools.combinations(others, 2)):
            new = resp.copy()
            new[:, i] = resp[:, i] + resp[:, j]
            new[:, j] = resp[:, split] * half
            new[:, split] = resp[:, split] * (1.0 - half)
            candidates.append(new)
    return candidates


#: EM iterations of a stage of the moves' screening (successive halving: each
#: stage keeps the better half of the moves, down to ``4 n_keep``).
HALVING_ITER = 5


def _stages(n_candidates, n_iter, n_keep):
    """``(iterations, kept)`` of the screening stages of ``n_candidates`` moves."""
    stages, left, spent = [], n_candidates, 0
    while left > 4 * n_keep and spent + HALVING_ITER < n_iter:
        left = max(left // 2, 4 * n_keep)
        stages.append((HALVING_ITER, left))
        spent += HALVING_ITER
    stages.append((n_iter - spent, n_keep))
    return stages


#: How many of the samples nearest a gate boundary a boundary move gives to
#: the expert across it (samples whose gate scores tie count as one).
BOUNDARY_JUMPS = (1, 2, 4, 8)
#: A sweep of sample moves is kept when it raises the objective by more than
#: this (nats): on a gate-separated ridge the objective creeps up by less at
#: every run, and the sweeps would not end.
BOUNDARY_MIN_GAIN = 1e-3
#: Sweeps of sample moves (boundary and small-expert moves) in a round, at most.
BOUNDARY_SWEEPS = 5
#: EM iterations of a sample move's start with the moved samples held.
BOUNDARY_CLAMP_ITER = 10
#: Small-expert moves: how many samples outside a small expert, those its line
#: fits best, are offered to it one at a time.
SMALL_EXPERT_CANDIDATES = 5
#: Line moves: the candidate lines (each through ``p`` samples, ``p`` the
#: design's columns) are every such set of samples when there are at most this
#: many, else this many drawn at random.
LINE_CANDIDATES = 2000
#: Line moves: how many of the tightest distinct sets of samples a small expert
#: is moved to.
LINE_MOVES = 5


def _give(resp, rows, a, b):
    """A copy of ``resp`` in which ``rows`` give their responsibility for expert
    ``a`` to expert ``b``."""
    move = resp.copy()
    move[rows, b] += move[rows, a]
    move[rows, a] = 0.0
    return move


def _give_to_runner_up(resp, rows, a):
    """A copy of ``resp`` in which each of ``rows`` gives its responsibility
    for expert ``a`` to its own runner-up (its largest other responsibility)."""
    rows = np.asarray(rows, dtype=np.intp)
    others = np.delete(np.arange(resp.shape[1]), a)
    runner_up = others[np.argmax(resp[np.ix_(rows, others)], axis=1)]
    move = resp.copy()
    move[rows, runner_up] += move[rows, a]
    move[rows, a] = 0.0
    return move


def _small_experts(model, resp):
    """The small experts of a fit (effective size below ``2 (d + 3)``, ``d``
    covariates: twice the regularity rule's least), and every expert's
    effective size ``sum_n w_n tau_ni``."""
    size = model.w @ resp
    return np.flatnonzero(size < 2 * (model.Xt.shape[1] + 2)), size


def boundary_responsibilities(model, scores, resp):
    """The responsibilities of every boundary move from ``resp``.

    For each ordered pair ``(a, b)`` of neighbouring experts (``b`` has the
    second largest gate score at one sample at least where ``a`` has the
    largest), the samples that ``a`` wins are ranked by the margin
    ``s_a - s_b`` (ties, such as repeated covariates, are one rank): for each
    ``m`` of :data:`BOUNDARY_JUMPS`, the samples of the ``m`` smallest margins
    give their responsibility for ``a`` to ``b``.  A move that would take
    every sample ``a`` wins is left out (that is a merge, not a boundary
    move), so a gate whose scores do not depend on x has none.  (The nearest
    samples need not have ``b`` as their runner-up: an expert that wins
    nowhere but holds weight everywhere can come second.)

    Parameters
    ----------
    model : the engine's model (``w`` (n,), the sample weights)
    scores : ndarray of shape (n, k)
        Gate scores of the fit (:meth:`gate_scores`): their differences are the
        log-odds of two experts.
    resp : ndarray of shape (n, k)
        Responsibilities of the fit.

    Returns
    -------
    list of ndarray of shape (n, k)
        Each row still sums to one.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> x = np.linspace(-1, 1, 6)
    >>> scores = np.column_stack([5 * x, -5 * x])  # a step at x = 0
    >>> resp = np.column_stack([x > 0, x < 0]).astype(float)
    >>> moves = boundary_responsibilities(SimpleNamespace(w=np.ones(6)), scores,
    ...                                   resp)
    >>> [move[:, 0].astype(int).tolist() for move in moves]
    [[0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 1], [0, 0, 1, 1, 1, 1], [0, 1, 1, 1, 1, 1]]
    """
    if scores.shape[1] < 2:
        return []
    top = np.argsort(scores, axis=1, kind="stable")
    first, second = top[:, -1], top[:, -2]
    live = model.w > 0
    candidates = []
    for a, b in itertools.permutations(range(scores.shape[1]), 2):
        if not np.any(live & (first == a) & (second == b)):
            continue  # b is never a's runner-up: no boundary between them
        rows = live & (first == a)
        margin = scores[:, a] - scores[:, b]
        ranks = np.unique(margin[rows])
        for m in BOUNDARY_JUMPS:
            if m >= ranks.size:
                break  # every sample a wins: a merge, not a boundary move
            candidates.append(_give(resp, rows & (margin <= ranks[m - 1]), a, b))
    return candidates


def small_expert_responsibilities(model, params, resp):
    """The responsibilities of every small-expert move from ``resp``.

    An expert is small when its effective size ``sum_n w_n tau_na`` is below
    ``2 (d + 3)``, twice the regularity rule's least (``d`` covariates): which
    few samples it holds decides the fit, and a local maximum holds on to them.
    For each small expert ``a``: each sample it holds (its largest
    responsibility is ``a``'s) gives that responsibility to the runner-up
    expert, and each of the :data:`SMALL_EXPERT_CANDIDATES` samples it does not
    hold that lie nearest its line (in its standard deviations) is given to it
    whole.

    Parameters
    ----------
    model : the engine's model (``Xt`` (n, p), ``y`` (n,), ``w`` (n,))
    params : MoEParams
        The fit (``coef`` (k, p), ``var`` (k,)).
    resp : ndarray of shape (n, k)
        Responsibilities of the fit.

    Returns
    -------
    list of ndarray of shape (n, k)
        Each row still sums to one.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> x = np.arange(12.0)
    >>> y = x.copy(); y[4] = 9.0  # one sample off the line, held by expert 1
    >>> model = SimpleNamespace(Xt=np.column_stack([np.ones(12), x]), y=y,
    ...                         w=np.ones(12))
    >>> params = SimpleNamespace(coef=np.array([[0.0, 1.0], [9.0, 0.0]]),
    ...                          var=np.array([1.0, 0.01]))
    >>> resp = np.zeros((12, 2)); resp[:, 0] = 1; resp[4] = [0, 1]
    >>> moves = small_expert_responsibilities(model, params, resp)
    >>> len(moves), moves[0][4].tolist(), moves[1][:, 1].nonzero()[0].tolist()
    (6, [1.0, 0.0], [4, 9])
    """
    live = model.w > 0
    held = np.argmax(resp, axis=1)
    candidates = []
    for a in _small_experts(model, resp)[0]:
        for i in np.flatnonzero(live & (held == a)):
            candidates.append(_give_to_runner_up(resp, [i], a))
        distance = np.abs(model.y - model.Xt @ params.coef[a]) / np.sqrt(params.var[a])
        outside = np.flatnonzero(live & (held != a))
        nearest = outside[np.argsort(distance[outside], kind="stable")]
        for i in nearest[:SMALL_EXPERT_CANDIDATES]:
            move = resp.copy()
            move[i] = 0.0
            move[i, a] = 1.0
            candidates.append(move)
    return candidates


def candidate_lines(model, rng):
    """Lines through ``p`` live samples each (``p`` the design's columns), the
    candidates of the line moves (:func:`line_responsibilities`): through every
    set of ``p`` samples when there are at most :data:`LINE_CANDIDATES` such
    sets, else through that many sets drawn from ``rng``.  Sets whose design is
    singular (repeated covariates) give no line.

    Parameters
    ----------
    model : the engine's model (``Xt`` (n, p), ``y`` (n,), ``w`` (n,))
    rng : numpy.random.RandomState

    Returns
    -------
    ndarray of shape (L, p)
        The coefficients of each line (``y = Xt @ line``).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> x = np.array([0.0, 1.0, 1.0, 2.0])
    >>> model = SimpleNamespace(Xt=np.column_stack([np.ones(4), x]),
    ...                         y=np.array([0.0, 1.0, 2.0, 2.0]), w=np.ones(4))
    >>> candidate_lines(model, np.random.RandomState(0)).tolist()
    [[0.0, 1.0], [0.0, 2.0], [0.0, 1.0], [0.0, 1.0], [2.0, 0.0]]
    """
    live = np.flatnonzero(model.w > 0)
    p = model.Xt.shape[1]
    if live.size < p:
        return np.zeros((0, p))
    if math.comb(live.size, p) <= LINE_CANDIDATES:
        sets = np.array(list(itertools.combinations(live, p)), dtype=np.intp)
    else:
        sets = np.sort([rng.choice(live, p, replace=False)
                        for _ in range(LINE_CANDIDATES)], axis=1)
    design, response = model.Xt[sets], model.y[sets]
    # a set spans a line when its design is far from singular
    scale = np.prod(np.linalg.norm(design, axis=2), axis=1)
    regular = np.abs(np.linalg.det(design)) > 1e-10 * scale
    return np.linalg.solve(design[regular], response[regular][..., None])[..., 0]


def line_responsibilities(model, resp, lines):
    """The responsibilities of every line move from ``resp``.

    A small expert (effective size ``m_a = sum_n w_n tau_na`` below ``2 (d +
    3)``, as for :func:`small_expert_responsibilities`) fits a line through a
    few samples, which need not lie side by side; which few decides the fit.
    A line move seats it on another set: for each candidate line, the
    ``ceil(m_a)`` live samples nearest it (at least ``p + 1``); the
    :data:`LINE_MOVES` sets whose farthest member is nearest its line (least
    median of squares, in the spirit of Rousseeuw 1984) become moves: the
    samples the expert held give their responsibility to their runner-up, and
    the set's samples go to the expert whole.

    Parameters
    ----------
    model : the engine's model (``Xt`` (n, p), ``y`` (n,), ``w`` (n,))
    resp : ndarray of shape (n, k)
        Responsibilities of the fit.
    lines : ndarray of shape (L, p)
        Candidate lines (:func:`candidate_lines`).

    Returns
    -------
    list of ndarray of shape (n, k)
        Each row still sums to one.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> x = np.arange(12.0)
    >>> y = 10.0 * (x % 2)  # four samples on each of y = 0, 10 and 10 + x
    >>> y[[1, 4, 7, 10]] = [11.0, 14.0, 17.0, 20.0]
    >>> model = SimpleNamespace(Xt=np.column_stack([np.ones(12), x]), y=y,
    ...                         w=np.ones(12))
    >>> resp = np.zeros((12, 2)); resp[:, 0] = 1; resp[[2, 5, 8, 11]] = [0, 1]
    >>> lines = candidate_lines(model, np.random.RandomState(0))
    >>> moves = line_responsibilities(model, resp, lines)
    >>> [move[:, 1].nonzero()[0].tolist() for move in moves[:3]]
    [[0, 2, 6, 8], [1, 4, 7, 10], [3, 5, 9, 11]]
    """
    live = np.flatnonzero(model.w > 0)
    small, size = _small_experts(model, resp)
    if small.size == 0 or len(lines) == 0:
        return []
    distance = np.abs(model.y[live, None] - model.Xt[live] @ lines.T)  # (n, L)
    order = np.argsort(distance, axis=0, kind="stable")  # nearest first
    held = np.argmax(resp, axis=1)
    candidates = []
    for a in small:
        m = min(max(model.Xt.shape[1] + 1, math.ceil(size[a])), live.size)
        nearest = order[:m]  # (m, L)
        spread = np.take_along_axis(distance, nearest[-1:], axis=0)[0]
        cleared = _give_to_runner_up(resp, np.flatnonzero(held == a), a)
        seen = set()
        for line in np.argsort(spread, kind="stable"):
            rows = live[np.sort(nearest[:, line])]
            if tuple(rows) in seen:
                continue
            seen.add(tuple(rows))
            move = cleared.copy()
            move[rows] = 0.0
            move[rows, a] = 1.0
            candidates.append(move)
            if len(seen) == LINE_MOVES:
                break
    return candidates


def _clamped_start(model, params, resp, move):
    """The start of a sample move: one M-step from the move's
    responsibilities (the gate's from the fit's gate), then
    :data:`BOUNDARY_CLAMP_ITER` EM iterations in which the moved samples keep
    the move's responsibilities (the gate one Newton step each), so that the
    experts and the gate settle around the moved step before EM may take it
    back."""
    moved = np.any(move != resp, axis=1)
    start = params_from_responsibilities(model, move, params.gate)
    work = np.empty_like(resp)
    for _ in range(BOUNDARY_CLAMP_ITER):
        model.e_step(start, work, work)
        work[moved] = move[moved]
        start = m_step(model, work, start, gate_iter=1)
    return start


def _sample_sweeps(model, fit, refine, options, is_regular, n_keep, maker, lines):
    """Sweeps of sample moves from ``fit`` (see :func:`improve_by_moves`).

    Every move of :func:`boundary_responsibilities`,
    :func:`small_expert_responsibilities` and :func:`line_responsibilities`
    (on the candidate ``lines``, a callable that makes them on first use)
    becomes a start
    (:func:`_clamped_start`) and runs EM to its end (``options.max_iter``,
    ``options.tol``); the ``n_keep`` best ends (regular first) are run to the
    end by ``refine``, and the best replaces the fit when it is better by more
    than :data:`BOUNDARY_MIN_GAIN`.  ``maker``: the model whose M-step and EM
    make the starts (``model`` or its twin).  Returns the fit and the moves
    accepted.
    """
    accepted = 0
    for _ in range(BOUNDARY_SWEEPS):
        result, key, resp = fit
        params = result.params
        moves = (boundary_responsibilities(model, model.gate_scores(params.gate),
                                           resp)
                 + small_expert_responsibilities(model, params, resp))
        if _small_experts(model, resp)[0].size:  # the lines made on first use
            moves += line_responsibilities(model, resp, lines())
        if not moves:
            break
        # a sparse gate's compass search (run_em's escapes) is left to the
        # refinement of the kept moves: in every move's run it cost 7 times
        # the whole fit on the top-2 example of the routing page
        ends = [run_em(model, model.project(_clamped_start(maker, params, resp,
                                                           move)),
                       max_iter=options.max_iter, tol=options.tol, max_escapes=0)
                for move in moves]
        order = rank_fits([is_regular(end.params, end.resp) for end in ends],
                          [end.objective for end in ends], scale=model.total)
        candidate = refine([ends[i].params for i in sorted(order[:n_keep])])
        if not (better_fit(candidate[1], key, scale=model.total) and (
                candidate[1][0] > key[0]
                or candidate[1][1] > key[1] + BOUNDARY_MIN_GAIN)):
            break
        fit, accepted = candidate, accepted + 1
    return fit, accepted


def improve_by_moves(model, fit, refine, *, n_rounds, n_iter, n_keep, is_regular,
                     options, rng, twin=None):
    """Rounds of moves from ``fit`` until none improves it: in each, the best
    split-and-merge move if it is better, then sweeps of sample moves
    (boundary and small-expert moves).

    Parameters
    ----------
    model : the engine's model
    fit : tuple ``(result, key, resp)``
        The incumbent: a solver's result, its ``(regular, objective)`` key and
        its responsibilities (n, k).
    refine : callable
        ``refine(starts) -> (result, key, resp)``: runs starts to the end and
        returns the best (see :func:`gmoe.engine._search.refine`).
    n_rounds : int
        At most this many rounds.
    n_iter, n_keep : int
        The screening of the split-and-merge moves
        (:func:`gmoe.engine._solvers.screen`) by successive halving: stages of
        :data:`HALVING_ITER` EM iterations each keep the better half of the
        moves until ``4 n_keep`` are left, which run the rest of ``n_iter``
        iterations; the ``n_keep`` most promising are then refined.  Of the
        sample moves, run by EM to their ends, the ``n_keep`` best are
        refined.
    is_regular : callable
        ``is_regular(params, resp) -> bool``, for the screening.
    options : gmoe.engine._solvers.SolverOptions
        ``max_iter`` and ``tol`` of the sample moves' EM runs.
    rng : numpy.random.RandomState
        Draws the candidate lines of the line moves when there are too many to
        take them all (:func:`candidate_lines`).
    twin : model or None
        A model whose M-step and EM make and screen the moves (a gate's
        screening gate), as in the search.

    Returns
    -------
    tuple ``(result, key, resp)`` and the number of moves accepted (of every
    kind).
    """
    accepted = 0
    maker = model if twin is None else twin
    made = []

    def lines():  # the candidate lines, made once, when a line move needs them
        if not made:
            made.append(candidate_lines(model, rng))
        return made[0]

    for _ in range(n_rounds):
        _, key, resp = fit
        gained = 0
        moves = split_merge_responsibilities(model, resp)
        if moves:
            starts = [params_from_responsibilities(maker, move) for move in moves]
            for stage_iter, stage_keep in _stages(len(starts), n_iter, n_keep):
                starts, _ = screen(model, starts, n_iter=stage_iter,
                                   n_keep=stage_keep, is_regular=is_regular,
                                   twin=twin)
            candidate = refine(starts)
            if better_fit(candidate[1], key, scale=model.total):
                fit, gained = candidate, 1
        fit, swept = _sample_sweeps(model, fit, refine, options, is_regular,
                                    n_keep, maker, lines)
        accepted += gained + swept
        if not gained + swept:
            break
    return fit, accepted
