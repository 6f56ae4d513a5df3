"""``gmoe demo``: fit the [N23] model exactly and over-fitted, then a small rate study.

The demo runs in about a minute on two cores: it fits the two-expert model of
[N23] with k = 2 and k = 3 experts (the estimator's default, certified fit) and
draws the fits and the Voronoi cells of the over-fitted one, then runs a small
over-fitting study (k = 2 and 3, a handful of sample sizes), prints one sentence
per convergence slope comparing it with the theory, and draws them.
"""

import time
from pathlib import Path

import numpy as np

from gmoe.datasets import N23_TRUTH, PARAM_NAMES, make_moe_regression
from gmoe.engine._search import search_sizes
from gmoe.estimator._estimator import GaussianMoERegressor
from gmoe.theory._measure import MixingMeasure


def add_parser(subparsers):
    """Register the ``demo`` command."""
    parser = subparsers.add_parser(
        "demo",
        help="fit the [N23] model with 2 and 3 experts, then a small rate study",
        description=(
            "Simulate data from the two-expert model of Nguyen, Nguyen & Ho (2023), "
            "fit it with k = 2 (exact) and k = 3 (over-fitted) experts, print the "
            "fitted parameters next to the true ones and draw the fits and the "
            "Voronoi cells; then fit k = 2 and 3 experts at several sample sizes, "
            "print the estimated convergence rates of the Voronoi losses and of the "
            "parameters, each compared with the theory in one sentence, and draw "
            "them.  Every fit is the estimator's default (EM, then Newton to a "
            "stationary point); fit times exclude the one-off compilation."
        ),
    )
    parser.add_argument("--n-samples", type=int, default=5000,
                        help="sample size (default: 5000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--out", default="gmoe-demo",
                        help="output folder for the figures (default: ./gmoe-demo)")
    parser.add_argument("--jobs", type=int, default=-1,
                        help="worker processes of the rate study (default: all cores)")
    parser.add_argument("--no-study", action="store_true",
                        help="only the two fits, no rate study")
    parser.add_argument("--replications", type=int, default=8,
                        help="samples per sample size in the rate study (default: 8)")
    parser.set_defaults(func=run)
    return parser


def _number(value):
    """Four decimals, or four significant digits for a small non-zero value."""
    if value != 0 and abs(value) < 1e-3:
        return f"{value:17.4g}"
    return f"{value:17.4f}"


def format_params(params, title):
    """A small text table of the five parameter groups of a d = 1 model."""
    lines = [title,
             f"  {'expert':>6} " + " ".join(f"{name:>17}" for name in PARAM_NAMES)]
    for i in range(len(params["expert_variance"])):
        cells = [np.ravel(params[name][i])[0] for name in PARAM_NAMES]
        lines.append(f"  {i + 1:>6} " + " ".join(_number(value) for value in cells))
    return "\n".join(lines)


def run(args):
    """Run the demo; return the exit status."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gmoe.kernels._compile import ensure_compiled
    from gmoe.plotting import plot_fit, plot_voronoi_cells
    from gmoe.simulation import demo_study

    if args.n_samples < 10:
        raise SystemExit("gmoe demo: --n-samples must be at least 10.")
    if args.replications < 2:
        raise SystemExit("gmoe demo: --replications must be at least 2.")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    X, y = make_moe_regression(args.n_samples, random_state=args.seed)
    print(f"Data: n = {args.n_samples} draws from the [N23] model, X ~ U[0, 1].")
    print(format_params(N23_TRUTH, "True parameters (k0 = 2; "
                                   "the gate's reference is expert 2):"))
    ensure_compiled()  # before any clock starts (one line on stderr if it compiles)
    fig, axes = plt.subplots(
        2, 2, figsize=(12, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for column, k in enumerate((2, 3)):
        start = time.perf_counter()
        model = GaussianMoERegressor(k, random_state=args.seed)
        model.fit(X, y)
        elapsed = time.perf_counter() - start
        status = ("a stationary point" if model.converged_
                  else "NOT a stationary point")
        print()
        print(format_params(
            {name: getattr(model, name + "_") for name in PARAM_NAMES},
            f"Fitted with k = {k} experts, best of "
            f"{search_sizes(model, len(y))[0]} starts "
            f"({elapsed:.2f} s; {model.n_iter_em_} EM + {model.n_iter_newton_} "
            f"Newton iterations; {status}, gradient {model.gradient_norm_:.1e}; "
            f"log-likelihood {model.log_likelihood_:.2f}, BIC {model.bic(X, y):.1f}):",
        ))
        degenerate = np.flatnonzero(model.degenerate_experts_) + 1
        if degenerate.size:
            print(f"  Expert(s) {', '.join(map(str, degenerate))}: too little weight "
                  "or a variance at the floor: a spurious expert on a few points, "
                  "which an over-fitted likelihood rewards (see the docs, "
                  "'Over-fitting').")
        plot_fit(model, X, y, true_params=N23_TRUTH, axes=axes[:, column])
        axes[0, column].set_title(f"k = {k} experts fitted to a k0 = 2 truth")
    figure_path = out / "demo_fits.png"
    fig.tight_layout()
    fig.savefig(figure_path, dpi=120)
    plt.close(fig)
    print(f"\nFigure of the fits written to {figure_path}")

    fig, ax = plt.subplots(figsize=(7, 5))
    truth = MixingMeasure.from_params(**N23_TRUTH)
    plot_voronoi_cells(model.mixing_measure_, truth, X, y, ax=ax)
    cells_path = out / "demo_voronoi_cells.png"
    fig.savefig(cells_path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    print(f"Voronoi cells of the k = {k} fit written to {cells_path}")

    if not args.no_study:
        print()
        demo_study(out / "rates", random_state=args.seed, n_jobs=args.jobs,
                   n_replications=args.replications)
    return 0
