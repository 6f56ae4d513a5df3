"""An over-fitted rate study with the top-K sparse softmax gate.

The truth is :data:`gmoe.datasets.TOPK_TRUTH` (k0 = 4 experts, d = 2, top-2 gate);
the fitted models have ``k > k0`` experts and the same top-K gate.  The loss is
the over-fitted Voronoi loss ``D2`` of [N23] with its exponent table ``rbar`` a
parameter: [N24k] defines losses of the same Voronoi form for the top-K gate,
whose exact exponents are not recorded here (see ``docs/theory/topk_gate.rst``).

Run from the command line (about 10 minutes on one core with the defaults)::

    python -m gmoe.simulation._topk --out topk_study.csv
"""

import argparse

from gmoe.datasets import TOPK_TRUTH, TOPK_TRUTH_K

#: Defaults of :func:`run_topk_study`: small enough for one core in minutes.
TOPK_STUDY = {
    "n_experts": 5,
    "top_k": 3,
    "sample_sizes": (1000, 2000, 4000, 8000, 16000),
    "n_replications": 4,
    "random_state": 2024,
}


def run_topk_study(*, n_experts=TOPK_STUDY["n_experts"], top_k=TOPK_STUDY["top_k"],
                   sample_sizes=TOPK_STUDY["sample_sizes"],
                   n_replications=TOPK_STUDY["n_replications"],
                   random_state=TOPK_STUDY["random_state"], rbar=None, n_jobs=1,
                   cache=None, progress=False, solver="em", max_iter=2000, tol=1e-6,
                   translation="infimum"):
    """Over-fitted top-K rate study on :data:`gmoe.datasets.TOPK_TRUTH`.

    Data from the truth with its top-2 gate; ``n_experts`` fitted experts with a
    top-``top_k`` gate, started near the truth as in [N23] (one start), EM (or
    ``solver``); losses ``D1`` and ``D2`` with the exponent table ``rbar`` (None:
    the package default, see :func:`gmoe.voronoi_loss`) and the routing columns.

    Parameters
    ----------
    n_experts : int, default=5
    top_k : int, default=3
        ``K`` of the fitted gate.  [N24k] shows that an over-fitted top-K model
        needs more selected experts than the truth's: a true expert whose
        Voronoi cell holds two fitted atoms takes two of the fitted top-K slots.
        With ``k = 5`` (one cell of two atoms) and the truth's ``K = 2``, the
        fitted gate needs ``K = 3``; ``K = 2`` cannot fit the truth's density.
    sample_sizes : sequence of int
    n_replications : int, default=4
    random_state : int, default=2024
    rbar : dict or None, default=None
        Exponents of ``D2`` by cell size (the unknowns of the top-K theory).
    n_jobs, cache, progress :
        As in :func:`gmoe.simulation.run_rate_study`.
    solver : {"em", "newton"}, default="em"
    max_iter : int, default=2000
    tol : float, default=1e-6
    translation : {"infimum", "reference"}, default="infimum"
        How the losses treat the gate translation (see
        :func:`gmoe.simulation.run_rate_study`); "reference" is faster.

    Returns
    -------
    results : pandas.DataFrame
        The table of :func:`gmoe.simulation.run_rate_study`.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     table = run_topk_study(sample_sizes=[500], n_replications=1,
    ...                            translation="reference")
    >>> int(table["k"].iloc[0]), bool(table["routing_mean_active"].iloc[0] <= 3)
    (5, True)
    """
    from gmoe.simulation import run_rate_study

    return run_rate_study(
        TOPK_TRUTH, n_experts, list(sample_sizes), n_replications,
        random_state=random_state, truth_top_k=TOPK_TRUTH_K, rbar=rbar,
        estimator_params={"top_k": top_k, "solver": solver}, max_iter=max_iter,
        tol=tol, n_jobs=n_jobs, cache=cache, progress=progress,
        translation=translation)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Top-K over-fitted rate study.")
    parser.add_argument("--out", default="topk_study.csv")
    parser.add_argument("--n-experts", type=int, default=TOPK_STUDY["n_experts"])
    parser.add_argument("--top-k", type=int, default=TOPK_STUDY["top_k"])
    parser.add_argument("--replications", type=int,
                        default=TOPK_STUDY["n_replications"])
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=list(TOPK_STUDY["sample_sizes"]))
    args = parser.parse_args(argv)
    import warnings

    from gmoe.simulation import estimate_rate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = run_topk_study(n_experts=args.n_experts, top_k=args.top_k,
                                 sample_sizes=args.sizes,
                                 n_replications=args.replications, progress=True)
    results.to_csv(args.out, index=False)
    for loss in ("D1", "D2"):
        print(loss, estimate_rate(results, loss, random_state=0))
    print(results.groupby("n")[["D2", "log_likelihood", "routing_mean_active",
                                "routing_effective_load", "fit_time"]].mean())


if __name__ == "__main__":
    main()
