"""A small over-fitting study on the [N23] truth, for the ``gmoe demo`` command.

Every fit is the estimator's default fit (``solver="newton"``: EM warm-up, then
Newton until the gradient vanishes), so every number is about a certified
stationary point of the likelihood, not about where an iteration happened to
stop.  Slopes are fitted to the *median* over the replications at each sample
size (the theory's rates are rates in probability; one bad replication moves a
mean, not a median), with a bootstrap interval, and each slope is compared with
the theory by :func:`judge_slope`, which writes the sentence the demo prints.
"""

import sys
import time
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from gmoe.datasets import N23_TRUTH
from gmoe.simulation._replication import (
    draw_replication,
    fit_seed_sequence,
    loss_columns,
)

#: Sample sizes of :func:`demo_study`: 5 sizes, doubling from 1000 to 16000.
DEMO_SAMPLE_SIZES = (1000, 2000, 4000, 8000, 16000)

#: Starts per fit in :func:`demo_study` (the estimator's kinds of start, cycled).
DEMO_N_INIT = 2

_LOSS_OPTIONS = {"losses": ("D1", "D2"), "translation": "infimum", "metric": "l1",
                 "rbar": None}


@dataclass(frozen=True)
class Quantity:
    """One quantity whose rate the demo measures."""

    key: str      #: short key, e.g. ``"k=3 D2"``
    column: str   #: column of the results
    k: int        #: number of fitted experts
    label: str    #: readable label
    symbol: str   #: label for a figure (matplotlib mathtext)
    theory: float  #: the theory's slope
    family: str   #: a key of the families of :data:`REASONS`


#: The quantities of the demo, in the order they are printed and drawn.
QUANTITIES = (
    Quantity("k=2 D1", "D1", 2, "loss D1, exact fit (k = 2)",
             r"$\mathcal{D}_1$, exact fit ($k = 2$)", -1 / 2, "loss"),
    Quantity("k=3 D2", "D2", 3, "loss D2, over-fit (k = 3)",
             r"$\mathcal{D}_2$, over-fit ($k = 3$)", -1 / 2, "over-fitted loss"),
    Quantity("k=3 weight", "err_weight_M2", 3,
             "summed weight of the cell with 2 atoms (k = 3)",
             r"summed weight $\sum e^{\beta_{0i}}$, 2-atom cell", -1 / 2,
             "cell weight"),
    Quantity("k=3 gate slope", "err_gate_coef_M2", 3,
             "gate slope beta_1, cell with 2 atoms (k = 3)",
             r"gate slope $\beta_1$, 2-atom cell", -1 / 8, "cell parameter"),
    Quantity("k=3 expert intercept", "err_expert_intercept_M2", 3,
             "expert intercept b, cell with 2 atoms (k = 3)",
             r"expert intercept $b$, 2-atom cell", -1 / 8, "cell parameter"),
    Quantity("k=3 expert slope", "err_expert_coef_M2", 3,
             "expert slope a, cell with 2 atoms (k = 3)",
             r"expert slope $a$, 2-atom cell", -1 / 4, "cell parameter"),
    Quantity("k=3 expert variance", "err_expert_variance_M2", 3,
             "expert variance sigma, cell with 2 atoms (k = 3)",
             r"expert variance $\sigma$, 2-atom cell", -1 / 4, "cell parameter"),
)


# ------------------------------------------------------------------ median rates
@dataclass(frozen=True)
class MedianRate:
    """Slope of ``log(median)`` against ``log(n)``, with a bootstrap interval.

    Attributes
    ----------
    column : str
    slope, intercept : float
        ``median ~ exp(intercept) * n**slope`` (least squares on the log scale).
    ci : tuple of float
        Percentile bootstrap interval of the slope (resampling the replications
        at each ``n`` independently); NaN when ``n_boot=0``.
    confidence : float
    sample_sizes : ndarray of int
    median, q25, q75, low, high : ndarray
        Median, quartiles, smallest and largest value at each sample size.
    counts : ndarray of int
        Finite values at each sample size.
    """

    column: str
    slope: float
    intercept: float
    ci: tuple
    confidence: float
    sample_sizes: np.ndarray
    median: np.ndarray
    q25: np.ndarray
    q75: np.ndarray
    low: np.ndarray
    high: np.ndarray
    counts: np.ndarray

    def predict(self, n):
        """The fitted line ``exp(intercept) * n**slope``."""
        return np.exp(self.intercept) * np.asarray(n, dtype=float) ** self.slope


def _ols_slopes(log_n, log_y):
    centred = log_n - log_n.mean()
    slope = (log_y - log_y.mean(axis=-1, keepdims=True)) @ centred / (centred @ centred)
    return slope, log_y.mean(axis=-1) - slope * log_n.mean()


def median_rate(results, column, *, k=None, n_boot=1000, confidence=0.95,
                random_state=0):
    """Slope of the median of ``column`` over replications against ``n``, log-log.

    Parameters
    ----------
    results : pandas.DataFrame
        Columns ``n``, ``column`` and (when ``k`` is given) ``k``.
    column : str
    k : int or None, default=None
        Keep only the rows of this number of experts.
    n_boot : int, default=1000
        Bootstrap resamples of the interval; 0 skips it.
    confidence : float, default=0.95
    random_state : int, default=0

    Returns
    -------
    rate : MedianRate

    Raises
    ------
    ValueError
        Fewer than two sample sizes with positive finite values.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> n = np.repeat([1000, 4000, 16000], 5)
    >>> noise = np.tile([0.8, 0.9, 1.0, 1.1, 1.25], 3)
    >>> frame = pd.DataFrame({"n": n, "D2": n ** -0.5 * noise})
    >>> frame.loc[4, "D2"] = 100.0  # one outlier replication at n = 1000
    >>> round(median_rate(frame, "D2", n_boot=0).slope, 3)
    -0.5
    """
    rows = results if k is None else results[results["k"] == k]
    values = rows[column].to_numpy(dtype=float)
    ns = rows["n"].to_numpy()
    sizes, groups = [], []
    for n in np.sort(pd.unique(ns)):
        v = values[(ns == n) & np.isfinite(values) & (values > 0)]
        if v.size:
            sizes.append(int(n))
            groups.append(v)
    if len(sizes) < 2:
        raise ValueError(
            f"column {column!r} has positive values at {len(sizes)} sample size(s); "
            "a slope needs 2."
        )
    log_n = np.log(np.asarray(sizes, dtype=float))
    median = np.array([np.median(v) for v in groups])
    slope, intercept = _ols_slopes(log_n, np.log(median))
    ci = (np.nan, np.nan)
    if n_boot:
        rng = np.random.default_rng(random_state)
        boot = np.empty((n_boot, len(groups)))
        for j, v in enumerate(groups):
            draws = rng.integers(0, v.size, size=(n_boot, v.size))
            boot[:, j] = np.median(v[draws], axis=1)
        slopes, _ = _ols_slopes(log_n, np.log(boot))
        alpha = (1 - confidence) / 2
        ci = tuple(float(q) for q in np.quantile(slopes, [alpha, 1 - alpha]))
    return MedianRate(
        column=column, slope=float(slope), intercept=float(intercept), ci=ci,
        confidence=confidence, sample_sizes=np.asarray(sizes),
        median=median,
        q25=np.array([np.quantile(v, 0.25) for v in groups]),
        q75=np.array([np.quantile(v, 0.75) for v in groups]),
        low=np.array([v.min() for v in groups]),
        high=np.array([v.max() for v in groups]),
        counts=np.array([v.size for v in groups]),
    )


# ------------------------------------------------------------------ verdicts
#: Why a measured slope can differ from the theory's, by family and direction.
REASONS = {
    ("loss", "steeper"): (
        "the loss falls faster than the parametric rate only before the asymptotics "
        "set in: at the smallest n some fits still place an expert away from its "
        "true one, which inflates the left end of the line"
    ),
    ("loss", "flatter"): (
        "an exact fit should reach the parametric rate; a flatter slope points to "
        "fits at the larger n that stopped at a poorer stationary point than the "
        "best (more starts would tell)"
    ),
    ("over-fitted loss", "steeper"): (
        "the loss falls faster than the parametric rate only before the asymptotics "
        "set in: at the smallest n some fits land on other near-optimal solutions "
        "far from the truth, which inflates the left end of the line"
    ),
    ("over-fitted loss", "flatter"): (
        "over-fitted likelihoods have a flat ridge at these n (two fitted experts "
        "sharing one true expert can trade parameters at almost no cost in "
        "likelihood), so the certified fits spread along it and the loss shrinks "
        "slowly until n is larger; see the theory notes on over-fitting"
    ),
    ("cell weight", "steeper"): (
        "the summed weight is a regular parameter; a steeper slope over this short "
        "range of n comes from the extra error of the smallest samples"
    ),
    ("cell weight", "flatter"): (
        "the gate intercepts sit on the flat ridge of the over-fitted likelihood at "
        "these n (see the theory notes on over-fitting)"
    ),
    ("cell parameter", "steeper"): (
        "the theory's rate is an upper bound, set by the worst way two fitted atoms "
        "can approach one true atom; here the data pin the two atoms down faster "
        "(gmoe's larger reproduction of [N23] also measures about n^-0.45), which "
        "does not contradict it"
    ),
    ("cell parameter", "flatter"): (
        "over-fitted likelihoods have a flat ridge at these n: the two atoms of the "
        "cell drift along it (a gate that separates them lets its slope grow "
        "without bound), so their errors barely shrink over this range of n; see "
        "the theory notes on over-fitting"
    ),
}


#: An interval wider than this is too wide for the check to mean much.
WIDE = 1.0

#: Why an interval is wide, by family.
WEAK_REASONS = {
    "loss": "the replications spread widely at these few sample sizes",
    "over-fitted loss": (
        "over-fitted fits spread along the flat ridge of the likelihood at these n, "
        "so a few sizes and replications cannot pin the slope down"
    ),
    "cell weight": "the replications spread widely at these few sample sizes",
    "cell parameter": (
        "over-fitted fits spread along the flat ridge of the likelihood at these n, "
        "so a few sizes and replications cannot pin the slope down"
    ),
}


def _fraction(value):
    frac = Fraction(value).limit_denominator(24)
    if abs(float(frac) - value) < 1e-9 and frac.denominator != 1:
        return f"-{abs(frac.numerator)}/{frac.denominator}" if frac < 0 else str(frac)
    return f"{value:.3g}"


def judge_slope(slope, ci, theory, *, label="slope", family="loss"):
    """Compare a measured slope with the theory's and say it in one sentence.

    The verdict is ``"consistent"`` when the theory's slope lies inside the
    interval ``ci``, ``"steeper"`` when the whole interval is below it (the
    quantity falls faster than the theory says), ``"flatter"`` when it is above,
    and ``"unavailable"`` when the interval is not finite.  The sentence gives the
    numbers, the verdict and, when they differ, the likely reason
    (:data:`REASONS`); a consistent slope whose interval also holds 0, or is
    wider than :data:`WIDE`, is flagged as a weak check (:data:`WEAK_REASONS`).

    Parameters
    ----------
    slope : float
    ci : (float, float)
    theory : float
    label : str, default="slope"
        What the slope is about, for the sentence.
    family : {"loss", "over-fitted loss", "cell weight", "cell parameter"}, \
            default="loss"
        Chooses the reason given for a difference.

    Returns
    -------
    verdict : str
    sentence : str

    Examples
    --------
    >>> judge_slope(-0.42, (-0.55, -0.30), -0.5, label="D2")
    ('consistent', 'D2: measured -0.42 [-0.55, -0.30] against -1/2: consistent.')
    >>> judge_slope(-0.9, (-1.1, -0.7), -0.125, family="cell parameter")[0]
    'steeper'
    """
    low, high = (float(v) for v in ci)
    head = f"{label}: measured {slope:.2f}"
    if not (np.isfinite(slope) and np.isfinite(low) and np.isfinite(high)):
        return "unavailable", f"{head}, no interval: too few fits to compare."
    head += f" [{low:.2f}, {high:.2f}] against {_fraction(theory)}"
    if low <= theory <= high:
        weak = []
        if low <= 0 <= high and theory < 0:
            weak.append("the interval also holds 0 (no decrease)")
        if high - low > WIDE:
            weak.append(f"it is {high - low:.1f} wide")
        if not weak:
            return "consistent", f"{head}: consistent."
        why = WEAK_REASONS.get(family, "")
        return "consistent", (f"{head}: consistent, but a weak check: "
                              f"{' and '.join(weak)}; {why}.")
    verdict = "steeper" if high < theory else "flatter"
    word = "faster" if verdict == "steeper" else "slower"
    reason = REASONS.get((family, verdict), "")
    sentence = f"{head}: {verdict} (falls {word} than the theory)"
    return verdict, sentence + (f"; {reason}." if reason else ".")


# ------------------------------------------------------------------ the fits
def _demo_fit(k, n, replication, entropy, n_init, worker=False):
    """One certified fit of the study; returns its row (never raises)."""
    from gmoe import GaussianMoERegressor
    from gmoe.kernels._compile import ensure_compiled

    if worker:
        import numba

        numba.set_num_threads(1)
    ensure_compiled()  # loads the kernels before the clock starts
    record = {"k": int(k), "n": int(n), "replication": int(replication),
              "seed": int(entropy)}
    try:
        X, y = draw_replication(N23_TRUTH, n, replication, random_state=entropy)
        _, start_seq = fit_seed_sequence(entropy, n, replication).spawn(2)
        seed = int(start_seq.generate_state(1)[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            model = GaussianMoERegressor(k, n_init=n_init, random_state=seed).fit(X, y)
            record["fit_time"] = time.perf_counter() - start
            params = {name: getattr(model, name + "_") for name in
                      ("gate_intercept", "gate_coef", "expert_intercept",
                       "expert_coef", "expert_variance")}
            record.update(loss_columns(params, N23_TRUTH, _LOSS_OPTIONS))
        record.update(
            log_likelihood=float(model.log_likelihood_),
            converged=bool(model.converged_),
            gradient_norm=float(model.gradient_norm_),
            n_iter_em=int(model.n_iter_em_),
            n_iter_newton=int(model.n_iter_newton_),
            error="",
        )
    except Exception as exc:  # a failed fit is a result
        record["error"] = f"{type(exc).__name__}: {exc}"
    return record


def _run_fits(tasks, entropy, n_init, n_jobs, progress):
    import os

    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    if progress is None:
        progress = sys.stderr.isatty()
    records = []

    def report(record):
        records.append(record)
        if progress:
            end = "\n" if len(records) == len(tasks) else ""
            print(f"\rrate study: {len(records)}/{len(tasks)} fits", end=end,
                  file=sys.stderr, flush=True)

    if n_jobs == 1:
        for task in tasks:
            report(_demo_fit(*task, entropy, n_init))
    else:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator")
        for record in parallel(delayed(_demo_fit)(*task, entropy, n_init, True)
                               for task in tasks):
            report(record)
    frame = pd.DataFrame(records)
    return frame.sort_values(["k", "n", "replication"]).reset_index(drop=True)


# ------------------------------------------------------------------ the study
def demo_study(out_dir, *, random_state=0, n_replications=8,
               sample_sizes=DEMO_SAMPLE_SIZES, n_init=DEMO_N_INIT, n_jobs=-1,
               progress=None, verbose=True):
    """Fit k = 2 and k = 3 experts to the [N23] truth; print and draw the rates.

    For each sample size, ``n_replications`` samples from
    :data:`gmoe.datasets.N23_TRUTH` (k0 = 2, X uniform on [0, 1]; the same
    samples as :func:`gmoe.simulation.run_rate_study` with this seed), each
    fitted with k = 2 (exact) and k = 3 (over-fitted) experts by the estimator's
    default solver (EM warm-up, then Newton to a stationary point) from
    ``n_init`` starts of its own kinds.  For the losses D1 (k = 2) and D2
    (k = 3), and for the errors of each parameter group in the two-atom cell of
    the over-fitted fits, it fits the slope of the median over replications
    against n on log-log axes, with a 95 % bootstrap interval, and prints one
    sentence per slope comparing it with the theory (:func:`judge_slope`).

    Parameters
    ----------
    out_dir : str or Path
        Folder for ``demo_rates.png``, ``demo_results.csv`` (one row per fit)
        and ``demo_slopes.csv`` (one row per slope); created if needed.
    random_state : int, default=0
        Seed of the study.
    n_replications : int, default=8
    sample_sizes : sequence of int, default=DEMO_SAMPLE_SIZES
    n_init : int, default=DEMO_N_INIT
        Starts per fit (the estimator's ``n_init``).
    n_jobs : int, default=-1
        Worker processes (joblib, loky); -1 uses every core.
    progress : bool or None, default=None
        A progress counter on stderr (None: only on a terminal).
    verbose : bool, default=True
        Print what is done, the certification of the fits and the sentences.

    Returns
    -------
    outputs : dict
        ``results`` (DataFrame, one row per fit), ``rates`` (dict of the keys of
        :data:`QUANTITIES` to :class:`MedianRate`), ``verdicts`` (same keys, the
        pairs of :func:`judge_slope`), ``slopes`` (DataFrame), ``figure``,
        ``csv`` and ``slopes_csv`` (paths), ``seconds``.

    Examples
    --------
    A tiny version (two small sample sizes, two replications):

    >>> import tempfile
    >>> outputs = demo_study(tempfile.mkdtemp(), sample_sizes=(300, 600),
    ...                      n_replications=2, n_init=1, n_jobs=1,
    ...                      progress=False, verbose=False)
    >>> len(outputs["results"])  # 2 sizes x 2 replications x (k = 2 and k = 3)
    8
    >>> outputs["figure"].name, outputs["csv"].name
    ('demo_rates.png', 'demo_results.csv')
    """
    import matplotlib

    matplotlib.use("Agg")
    from gmoe.kernels._compile import ensure_compiled
    from gmoe.plotting._rates import plot_demo_rates

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = print if verbose else (lambda *args, **kwargs: None)
    sizes = [int(n) for n in sample_sizes]
    say(f"Rate study: {n_replications} samples at each n in {sizes}, each fitted "
        f"with k = 2 and k = 3 experts (default solver, best of {n_init} starts).")
    ensure_compiled()
    entropy = int(random_state)
    # Largest fits first, so that the workers finish together.
    tasks = sorted(((k, n, r) for n in sizes for r in range(n_replications)
                    for k in (2, 3)), key=lambda t: (-t[1] * t[0], t[2]))
    start = time.perf_counter()
    results = _run_fits(tasks, entropy, n_init, n_jobs, progress)
    seconds = time.perf_counter() - start

    ok = results[results["error"] == ""]
    n_failed = len(results) - len(ok)
    say(f"{len(results)} fits in {seconds:.1f} s ({n_failed} failed); fit times "
        f"{ok['fit_time'].min():.2f} to {ok['fit_time'].max():.2f} s, compilation "
        "excluded.")
    say(certification_sentence(ok))

    rates, verdicts, rows = {}, {}, []
    for q in QUANTITIES:
        try:
            rate = median_rate(results, q.column, k=q.k, random_state=random_state)
        except (ValueError, KeyError) as exc:
            verdicts[q.key] = ("unavailable", f"{q.label}: no slope ({exc}).")
            continue
        rates[q.key] = rate
        verdicts[q.key] = judge_slope(rate.slope, rate.ci, q.theory, label=q.label,
                                      family=q.family)
        rows.append({"quantity": q.label, "column": q.column, "k": q.k,
                     "theory": q.theory, "slope": rate.slope, "ci_low": rate.ci[0],
                     "ci_high": rate.ci[1], "verdict": verdicts[q.key][0],
                     "sentence": verdicts[q.key][1]})
    say("Slopes of the median over replications against n, log-log, with 95% "
        "bootstrap intervals, against the theory ([N23]; rates up to log n):")
    for _, sentence in verdicts.values():
        say(f"- {sentence}")
    n_two = int(np.isfinite(results.loc[results["k"] == 3,
                                        "err_gate_coef_M2"]).sum()) \
        if "err_gate_coef_M2" in results else 0
    n_three = int((results["k"] == 3).sum())
    say(f"(The cell errors use the {n_two} of {n_three} over-fitted fits with a "
        "two-atom cell; each is the largest error of the two atoms.)")

    figure = out / "demo_rates.png"
    plot_demo_rates(results, rates, QUANTITIES, figure, verdicts=verdicts)
    csv = out / "demo_results.csv"
    results.to_csv(csv, index=False)
    slopes = pd.DataFrame(rows)
    slopes_csv = out / "demo_slopes.csv"
    slopes.to_csv(slopes_csv, index=False)
    say(f"Figure written to {figure}; tables to {csv} and {slopes_csv}.")
    return {"results": results, "rates": rates, "verdicts": verdicts,
            "slopes": slopes, "figure": figure, "csv": csv, "slopes_csv": slopes_csv,
            "seconds": seconds}


def certification_sentence(results, gtol=1e-8):
    """One sentence on how many fits are certified stationary points.

    Parameters
    ----------
    results : pandas.DataFrame
        Columns ``converged`` and ``gradient_norm``.
    gtol : float, default=1e-8
        The estimator's gradient tolerance, for the sentence.

    Returns
    -------
    sentence : str

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"converged": [True, True],
    ...                       "gradient_norm": [1e-10, 3e-9]})
    >>> print(certification_sentence(frame))  # doctest: +NORMALIZE_WHITESPACE
    Certified: 2 of 2 fits (100%) end at a stationary point of the likelihood
    (converged_, largest gradient_norm_ 3e-09 <= gtol 1e-08).
    """
    total = len(results)
    if total == 0:
        return "No fit succeeded."
    converged = int(results["converged"].astype(bool).sum())
    largest = float(results["gradient_norm"].max())
    share = 100 * converged / total
    sentence = (f"Certified: {converged} of {total} fits ({share:.0f}%) "
                "end at a stationary point of the likelihood (converged_, largest "
                f"gradient_norm_ {largest:.2g}")
    sentence += f" <= gtol {gtol:.2g})." if largest <= gtol else (
        f"; gtol is {gtol:.2g}, so the others stopped before).")
    return sentence
