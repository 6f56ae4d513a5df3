"""A small over-fitting study on the [N23] truth, for the ``gmoe demo`` command."""

import time
from pathlib import Path

from gmoe.datasets import N23_TRUTH
from gmoe.simulation._rates import estimate_rate
from gmoe.simulation._study import run_rate_study

#: Sample sizes of :func:`demo_study`: 6 log-spaced sizes from 1000 to 32000.
DEMO_SAMPLE_SIZES = (1000, 2000, 4000, 8000, 16000, 32000)


def demo_study(out_dir, *, random_state=0, n_replications=8,
               sample_sizes=DEMO_SAMPLE_SIZES, n_jobs=-1, progress=None, verbose=True):
    """Fit k = 2 and k = 3 experts to the [N23] truth; print slopes, draw the figure.

    A small rate study: for each sample size, ``n_replications`` samples from
    :data:`gmoe.datasets.N23_TRUTH` (k0 = 2), each fitted with k = 2 (exact) and
    k = 3 (over-fitted) experts from the [N23] start near the truth (one start,
    EM tolerance 1e-6, at most 2000 iterations).  It estimates the slope of the
    mean D1 (k = 2) and D2 (k = 3) against n, and of the per-parameter errors in the
    two-atom cell of the over-fitted model, and writes the figure and the table.
    About a minute on two cores with the defaults.

    Parameters
    ----------
    out_dir : str or Path
        Folder for ``demo_rates.png`` and ``demo_results.csv`` (created).
    random_state : int, default=0
        Seed of the study.
    n_replications : int, default=8
    sample_sizes : sequence of int, default=DEMO_SAMPLE_SIZES
    n_jobs : int, default=-1
        Worker processes (see :func:`gmoe.simulation.run_rate_study`); -1 uses
        every core.
    progress : bool or None, default=None
        Progress bar (None: only on a terminal).
    verbose : bool, default=True
        Print what is done and the estimated slopes.

    Returns
    -------
    outputs : dict
        ``results`` (DataFrame), ``rates`` (dict of column name to
        :class:`~gmoe.simulation.RateEstimate`, keyed ``"k=2 D1"``, ``"k=3 D2"``,
        ``"k=3 err_<group>_M2"``), ``figure`` and ``csv`` (paths), ``seconds``.

    Examples
    --------
    A tiny version (two small sample sizes, two replications; the defaults take
    about a minute):

    >>> import tempfile
    >>> outputs = demo_study(tempfile.mkdtemp(), sample_sizes=(300, 600),
    ...                      n_replications=2, n_jobs=1, progress=False,
    ...                      verbose=False)
    >>> len(outputs["results"])  # 2 sizes x 2 replications x (k = 2 and k = 3)
    8
    >>> sorted(outputs["rates"])[:2]
    ['k=2 D1', 'k=3 D2']
    >>> outputs["figure"].name, outputs["csv"].name
    ('demo_rates.png', 'demo_results.csv')
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gmoe.plotting import plot_rate

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = print if verbose else (lambda *args, **kwargs: None)
    say(
        f"Rate study on the [N23] truth (k0 = 2): k = 2 and 3 experts, n in "
        f"{list(sample_sizes)}, {n_replications} replications, start near the truth."
    )
    start = time.perf_counter()
    results = run_rate_study(
        N23_TRUTH, (2, 3), sample_sizes, n_replications, random_state=random_state,
        n_jobs=n_jobs, init="near_truth", n_init=1, max_iter=2000, tol=1e-6,
        progress=progress,
    )
    seconds = time.perf_counter() - start
    n_failed = int((results["error"] != "").sum())
    say(f"{len(results)} fits in {seconds:.1f} s ({n_failed} failed).")

    rates = {
        "k=2 D1": estimate_rate(results, "D1", k=2, random_state=random_state),
        "k=3 D2": estimate_rate(results, "D2", k=3, random_state=random_state),
    }
    theory = {"gate_coef": -1 / 8, "expert_intercept": -1 / 8,
              "expert_coef": -1 / 4, "expert_variance": -1 / 4}
    over = results[results["k"] == 3]
    for group in theory:
        column = f"err_{group}_M2"
        try:
            rates[f"k=3 {column}"] = estimate_rate(over, column,
                                                   random_state=random_state)
        except ValueError as exc:  # e.g. no two-atom cell at some n
            say(f"  no rate for {column}: {exc}")
    say("Estimated slopes of log(mean) against log(n) (95% bootstrap CI):")
    for key, rate in rates.items():
        group = key.split("err_")[-1].rsplit("_M", 1)[0]
        expected = theory.get(group, -0.5)
        low, high = rate.ci
        say(f"  {key:28s} {rate.slope:7.3f}  [{low:6.3f}, {high:6.3f}]  "
            f"theory {expected:.3f}")

    fig, axes = plt.subplots(1, 3, figsize=(19, 5))
    plot_rate(results, "D1", k=2, rate=rates["k=2 D1"], ax=axes[0])
    axes[0].set_title("exact fit, k = 2: D1")
    plot_rate(results, "D2", k=3, rate=rates["k=3 D2"], ax=axes[1])
    axes[1].set_title("over-fit, k = 3: D2")
    for group, slope in theory.items():
        key = f"k=3 err_{group}_M2"
        if key in rates:
            plot_rate(over, f"err_{group}_M2", rate=rates[key], theory_slope=slope,
                      ax=axes[2], errorbar=None)
    axes[2].set_title("over-fit, k = 3: errors in the two-atom cell")
    axes[2].set_ylabel("mean error")
    axes[2].legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    figure = out / "demo_rates.png"
    fig.savefig(figure, dpi=110)
    plt.close(fig)
    csv = out / "demo_results.csv"
    results.to_csv(csv, index=False)
    say(f"Figure written to {figure}; table to {csv}.")
    return {"results": results, "rates": rates, "figure": figure, "csv": csv,
            "seconds": seconds}
