"""``gmoe fit``: fit a mixture of experts to the columns of a CSV file.

Reads the file with pandas, fits :class:`gmoe.GaussianMoERegressor` with one
number of experts or with each of several (then :func:`gmoe.select_n_experts`
keeps the smallest BIC among the fits without degenerate experts), prints
the selection table, the fitted parameters and the fit statistics, and writes the
predictions, the parameters and a figure into an output folder.

Bad input (a missing file or column, non-numeric columns, missing values, more
experts than rows) stops the command before any fit, with exit status 2 and a
one-line message on stderr.
"""

import sys
import time
import warnings
from pathlib import Path

import numpy as np

from gmoe.gates import GATES

#: How many row numbers an error message about missing values shows.
N_ROWS_SHOWN = 5


class FitInputError(ValueError):
    """Input that ``gmoe fit`` cannot fit; the message is one line."""


def add_parser(subparsers):
    """Register the ``fit`` command."""
    parser = subparsers.add_parser(
        "fit",
        help="fit a mixture of experts to a CSV file, choosing k by BIC",
        description=(
            "Fit a gated Gaussian mixture of experts to the columns of a CSV "
            "file: the target column against the feature columns (default: every "
            "other column).  With several numbers of experts (--experts 1-6), fit "
            "each (each with its own seed drawn from --random-state) and keep the "
            "one of smallest BIC among the fits without degenerate experts.  "
            "Prints the fitted parameters "
            "and the fit statistics; writes predictions.csv (prediction, "
            "prediction interval, most responsible expert of each row), "
            "parameters.csv and fit.png into the output folder."
        ),
    )
    parser.add_argument("data", metavar="DATA.csv", help="CSV file with a header row")
    parser.add_argument("--target", "-y", required=True,
                        help="name of the response column")
    parser.add_argument("--features", "-x", nargs="+", default=None, metavar="NAME",
                        help="names of the feature columns (default: every column "
                             "but the target)")
    parser.add_argument("--experts", "-k", default="2", metavar="K",
                        help="number of experts: an integer (3), a range (1-6) or a "
                             "list (1,2,4); with several, the smallest BIC wins "
                             "(default: 2)")
    parser.add_argument("--gate", default="softmax", choices=sorted(GATES),
                        help="the gate (gmoe.gates): softmax, constant (a mixture "
                             "of linear regressions), sigmoid (normalised), cosine "
                             "(perturbed cosine router), laplace, top_k (the top-2 "
                             "softmax) or top_p (p = 0.9) (default: softmax)")
    parser.add_argument("--shared-features", nargs="+", default=None,
                        metavar="NAME",
                        help="feature columns whose coefficient is common to every "
                             "expert (flexmix's FLXMRglmfix(fixed = ~ x))")
    parser.add_argument("--shared-variance", action="store_true",
                        help="one variance shared by the experts (flexmix's "
                             "varFix)")
    parser.add_argument("--n-init", type=int, default=None,
                        help="starts per number of experts; the best "
                             "log-likelihood is kept (default: the estimator's "
                             "search, 30 starts screened down to 10, 60 to 20 "
                             "and moves (split-and-merge, gate boundary, small "
                             "expert, line) from the two best fits on at most "
                             "2000 samples; 10 per k when "
                             "several are compared)")
    parser.add_argument("--max-iter", type=int, default=1000,
                        help="maximum iterations of each phase (EM, then Newton) "
                             "per start (default: 1000)")
    parser.add_argument("--tol", type=float, default=1e-6,
                        help="EM tolerance on the mean log-likelihood, before the "
                             "Newton finish (default: 1e-6)")
    parser.add_argument("--random-state", type=int, default=0,
                        help="seed of the EM starts (default: 0)")
    parser.add_argument("--coverage", type=float, default=0.9,
                        help="coverage of the prediction intervals (default: 0.9)")
    parser.add_argument("--drop-na", action="store_true",
                        help="drop the rows with missing values in the columns used "
                             "(default: refuse them)")
    parser.add_argument("--output", "-o", default="gmoe-fit",
                        help="output folder (default: ./gmoe-fit)")
    parser.set_defaults(func=run)
    return parser


def parse_experts(spec):
    """The numbers of experts of ``--experts``: ``"3"``, ``"1-6"``, ``"1,2,4"``.

    Parameters
    ----------
    spec : str
        Integers and ranges ``a-b`` (both ends included), separated by commas.

    Returns
    -------
    ks : list of int
        Increasing, without repeats.

    Raises
    ------
    FitInputError
        When ``spec`` is not of that form or holds a number below 1.

    Examples
    --------
    >>> parse_experts("1-4")
    [1, 2, 3, 4]
    >>> parse_experts("2, 5,3")
    [2, 3, 5]
    """
    ks = set()
    bad = FitInputError(
        f"--experts must be an integer (3), a range (1-6) or a list (1,2,4); "
        f"got {spec!r}."
    )
    for part in str(spec).split(","):
        part = part.strip()
        low, sep, high = part.partition("-")
        try:
            low = int(low)
            high = int(high) if sep else low
        except ValueError:
            raise bad from None
        if low > high:
            raise FitInputError(f"--experts: the range {part!r} is empty.")
        if low < 1:
            raise FitInputError(f"--experts: numbers of experts must be at least 1; "
                                f"got {spec!r}.")
        ks.update(range(low, high + 1))
    return sorted(ks)


def _names(columns):
    return ", ".join(repr(str(c)) for c in columns)


def read_data(path, target, features=None, *, drop_na=False):
    """Read and check the columns of a CSV file.

    Parameters
    ----------
    path : str or Path
    target : str
    features : list of str or None
        None: every column but ``target``.
    drop_na : bool
        Drop the rows with a missing or infinite value in the columns used,
        instead of refusing them.

    Returns
    -------
    frame : pandas.DataFrame
        The columns used (features, then target), the kept rows, with the
        original row index (0 for the first data row).
    features : list of str
    n_dropped : int

    Raises
    ------
    FitInputError
        With a one-line message.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "data.csv"
    >>> _ = path.write_text("x,y\\n0.1,1.0\\n0.2,\\n0.3,2.5\\n")
    >>> read_data(path, "y")
    Traceback (most recent call last):
    ...
    gmoe.commands._fit.FitInputError: 1 row of data.csv has missing or infinite values \
in the columns used (line 3 of the file); --drop-na drops them.
    >>> frame, features, n_dropped = read_data(path, "y", drop_na=True)
    >>> features, n_dropped, frame["y"].tolist()
    (['x'], 1, [1.0, 2.5])
    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FitInputError(f"no data file {path}.")
    if path.is_dir():
        raise FitInputError(f"{path} is a folder, not a CSV file.")
    try:
        data = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise FitInputError(f"{path} is empty.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise FitInputError(f"{path} is not a readable CSV file: {first}") from None
    columns = [str(c) for c in data.columns]
    data.columns = columns
    if target not in columns:
        raise FitInputError(
            f"no column {target!r} in {path.name}; its columns are {_names(columns)}."
        )
    if features is None:
        features = [c for c in columns if c != target]
        if not features:
            raise FitInputError(f"{path.name} has no column besides the target "
                                f"{target!r}; a mixture of experts needs features.")
    else:
        missing = [c for c in features if c not in columns]
        if missing:
            raise FitInputError(
                f"no column(s) {_names(missing)} in {path.name}; its columns are "
                f"{_names(columns)}."
            )
        if target in features:
            raise FitInputError(f"the target {target!r} is also among the features.")
        repeated = sorted({c for c in features if features.count(c) > 1})
        if repeated:
            raise FitInputError(f"--features names {_names(repeated)} more than once.")
    used = [*features, target]
    frame = data[used]
    non_numeric = [c for c in used if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        details = []
        for c in non_numeric:
            values = pd.to_numeric(frame[c], errors="coerce")
            bad = frame[c][values.isna() & frame[c].notna()]
            if len(bad):
                first = str(bad.iloc[0])
                details.append(f"{c!r}: {first!r} on line {bad.index[0] + 2}")
        shown = f" (first non-number: {'; '.join(details)})" if details else ""
        raise FitInputError(
            f"column(s) {_names(non_numeric)} of {path.name} are not numeric{shown}; "
            "gmoe fit needs numbers in the target and the features."
        )
    frame = frame.astype(float)
    bad_rows = ~np.isfinite(frame.to_numpy()).all(axis=1)
    n_bad = int(bad_rows.sum())
    if n_bad and not drop_na:
        lines = [str(i + 2) for i in np.flatnonzero(bad_rows)[:N_ROWS_SHOWN]]
        more = ", ..." if n_bad > N_ROWS_SHOWN else ""
        rows = "row" if n_bad == 1 else "rows"
        has = "has" if n_bad == 1 else "have"
        where = "line" if n_bad == 1 else "lines"
        raise FitInputError(
            f"{n_bad} {rows} of {path.name} {has} missing or infinite values in the "
            f"columns used ({where} {', '.join(lines)}{more} of the file); "
            "--drop-na drops them."
        )
    frame = frame[~bad_rows]
    if len(frame) == 0:
        raise FitInputError(f"{path.name} has no row to fit"
                            + (" once the rows with missing values are dropped."
                               if n_bad else "."))
    return frame, list(features), n_bad


def _expert_options(args):
    """The estimator's expert options of ``--shared-features`` (column indices of
    the fitted features, set by :func:`fit_command`) and ``--shared-variance``."""
    return {"shared_features": getattr(args, "shared_indices", None),
            "shared_variance": bool(args.shared_variance)}


def _fit_one(k, X, y, args):
    """Fit k experts; return the model and the warnings' first lines."""
    from gmoe.estimator._estimator import GaussianMoERegressor

    search = {} if args.n_init is None else {"n_init": args.n_init}
    model = GaussianMoERegressor(k, max_iter=args.max_iter, tol=args.tol,
                                 random_state=args.random_state, gate=args.gate,
                                 **search, **_expert_options(args))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    messages = []
    for warning in caught:
        line = str(warning.message).strip().splitlines()[0]
        if line not in messages:
            messages.append(line)
    return model, messages


def _select(ks, X, y, args):
    """Fit every k with :func:`gmoe.select_n_experts` and choose by BIC."""
    from gmoe.selection._common import _check_room
    from gmoe.selection._selection import select_n_experts

    try:
        _check_room(ks, len(y), X.shape[1])
    except ValueError as exc:
        raise FitInputError(f"--experts: {exc}") from None
    try:
        selection = select_n_experts(X, y, ks, "bic", n_init=args.n_init,
                                     random_state=args.random_state,
                                     max_iter=args.max_iter, tol=args.tol,
                                     gate=args.gate, **_expert_options(args))
    except ValueError as exc:
        raise FitInputError(
            f"the fits failed: {str(exc).strip().splitlines()[0]}") from None
    rows = []
    for record in selection.results_.to_dict("records"):
        k = int(record["n_experts"])
        for message in filter(None, record["warnings"].split("; ")):
            print(f"gmoe fit: warning (k = {k}): {message}", file=sys.stderr)
        rows.append({"k": k, "log_likelihood": record["log_likelihood"],
                     "bic": record["bic"], "icl": record["icl"],
                     "aic": record["aic"], "converged": bool(record["converged"]),
                     "n_iter": selection.estimators_[k].n_iter_,
                     "n_iter_em": selection.estimators_[k].n_iter_em_,
                     "n_iter_newton": selection.estimators_[k].n_iter_newton_,
                     "n_degenerate": int(record["n_degenerate"]),
                     "regular": bool(record["regular"])})
    return selection.estimators_, rows, selection.n_experts_


def format_selection(rows, chosen):
    """The table of the fits of several numbers of experts.

    Parameters
    ----------
    rows : list of dict
        ``k``, ``log_likelihood``, ``bic``, ``aic``, ``converged``,
        ``n_iter_em``, ``n_iter_newton``.
    chosen : int
        The chosen number of experts, marked with ``*``.

    Returns
    -------
    text : str

    Examples
    --------
    >>> rows = [dict(k=1, log_likelihood=-120.0, bic=251.5, aic=246.0,
    ...              converged=True, n_iter_em=2, n_iter_newton=0),
    ...         dict(k=2, log_likelihood=-80.0, bic=187.7, aic=176.0,
    ...              converged=True, n_iter_em=35, n_iter_newton=4)]
    >>> print(format_selection(rows, 2))
         k  log-likelihood         BIC         AIC  converged  EM + Newton
         1         -120.00      251.50      246.00        yes        2 + 0
      *  2          -80.00      187.70      176.00        yes       35 + 4
    """
    lines = [f"{'k':>6}  {'log-likelihood':>14}  {'BIC':>10}  {'AIC':>10}  "
             f"{'converged':>9}  {'EM + Newton':>11}"]
    for row in rows:
        mark = "*" if row["k"] == chosen else " "
        iterations = f"{row['n_iter_em']} + {row['n_iter_newton']}"
        lines.append(
            f"{mark:>3} {row['k']:>2}  {row['log_likelihood']:14.2f}  "
            f"{row['bic']:10.2f}  {row['aic']:10.2f}  "
            f"{'yes' if row['converged'] else 'no':>9}  {iterations:>11}"
        )
    return "\n".join(lines)


def parameter_table(model, features):
    """The fitted parameters, one column per expert, with readable row names.

    Parameters
    ----------
    model : GaussianMoERegressor
        Fitted.
    features : list of str

    Returns
    -------
    table : pandas.DataFrame
        Rows ``gate intercept``, ``gate slope <feature>``..., ``expert
        intercept``, ``expert slope <feature>``..., ``variance``, ``weight``;
        columns ``expert 1``...

    Examples
    --------
    >>> from gmoe import GaussianMoERegressor
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(300, random_state=0)
    >>> model = GaussianMoERegressor(2, random_state=0).fit(X, y)
    >>> table = parameter_table(model, ["dose"])
    >>> table.index.tolist()  # doctest: +NORMALIZE_WHITESPACE
    ['gate intercept', 'gate slope dose', 'expert intercept', 'expert slope dose',
     'variance', 'weight']
    """
    import pandas as pd

    rows = {}
    if hasattr(model, "gate_intercept_"):
        rows["gate intercept"] = model.gate_intercept_
    if hasattr(model, "gate_coef_"):
        # slopes of a linear predictor; directions (cosine) or centres (Laplace)
        label = {"cosine": "gate direction", "laplace": "gate centre"}.get(
            model.gate_.name, "gate slope")
        for j, name in enumerate(features):
            rows[f"{label} {name}"] = model.gate_coef_[:, j]
    for attribute in model.gate_.attributes:
        # a gate reported otherwise (the Gaussian gate's weights, means and
        # covariances): one row per entry, the upper triangle of matrices
        if attribute in ("gate_intercept", "gate_coef"):
            continue
        value = getattr(model, attribute + "_")
        label = attribute.replace("_", " ")
        if value.ndim == 1:
            rows[label] = value
        elif value.ndim == 2:
            for j, name in enumerate(features):
                rows[f"{label} {name}"] = value[:, j]
        else:
            for a, b in zip(*np.triu_indices(len(features)), strict=True):
                rows[f"{label} {features[a]},{features[b]}"] = value[:, a, b]
    rows["expert intercept"] = model.expert_intercept_
    for j, name in enumerate(features):
        rows[f"expert slope {name}"] = model.expert_coef_[:, j]
    rows["variance"] = model.expert_variance_
    rows["weight"] = model.expert_weight_
    columns = [f"expert {i + 1}" for i in range(model.n_experts)]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def _format_parameters(table):
    width = max(len(name) for name in table.index)
    lines = [" " * (width + 2) + "".join(f"{c:>13}" for c in table.columns)]
    for name, values in table.iterrows():
        lines.append(f"  {name:<{width}}" + "".join(f"{v:13.4f}" for v in values))
    return "\n".join(lines)


def _unique_name(name, taken):
    while name in taken:
        name = "gmoe_" + name
    return name


def _draw(model, X, y, features, target, expert, coverage, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gmoe.plotting import plot_fit

    if len(features) == 1:
        fig = plot_fit(model, X, y)
        top, bottom = fig.axes[:2]
        grid = np.linspace(X[:, 0].min(), X[:, 0].max(), 300)[:, None]
        band = model.predict_interval(grid, coverage=coverage)
        top.fill_between(grid[:, 0], band[:, 0], band[:, 1],
                         color="C0", alpha=0.12, lw=0,
                         label=f"{100 * coverage:g}% interval")
        top.legend(loc="best", fontsize=8, ncol=2)
        top.set_ylabel(target)
        bottom.set_xlabel(features[0])
        top.set_title(f"{target} against {features[0]}: k = {model.n_experts} "
                      "experts")
    else:
        fig, ax = plt.subplots(figsize=(6.5, 6))
        predicted = model.predict(X)
        colors = plt.get_cmap("tab10")(np.arange(model.n_experts) % 10)
        for i, color in enumerate(colors):
            mine = expert == i + 1
            ax.scatter(predicted[mine], y[mine], s=6, color=color, alpha=0.6,
                       label=f"expert {i + 1}")
        low = min(predicted.min(), y.min())
        high = max(predicted.max(), y.max())
        ax.plot([low, high], [low, high], "k--", lw=1, label="observed = predicted")
        ax.set_xlabel(f"predicted {target} (conditional mean)")
        ax.set_ylabel(f"observed {target}")
        ax.set_title(f"{target} on {len(features)} features: k = {model.n_experts} "
                     "experts\n(points coloured by their most responsible expert)")
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fit_command(args):
    """Run ``gmoe fit``; raise :class:`FitInputError` on bad input."""
    ks = parse_experts(args.experts)
    if args.n_init is not None and args.n_init < 1:
        raise FitInputError(f"--n-init must be at least 1; got {args.n_init}.")
    if args.max_iter < 1:
        raise FitInputError(f"--max-iter must be at least 1; got {args.max_iter}.")
    if not args.tol > 0:
        raise FitInputError(f"--tol must be positive; got {args.tol}.")
    if not 0 < args.coverage < 1:
        raise FitInputError(f"--coverage must be in (0, 1); got {args.coverage}.")
    frame, features, n_dropped = read_data(args.data, args.target, args.features,
                                           drop_na=args.drop_na)
    n = len(frame)
    if max(ks) > n:
        raise FitInputError(
            f"--experts {args.experts} asks for up to {max(ks)} experts but the data "
            f"have {n} row{'s' if n != 1 else ''}; k must be at most the number of "
            "rows (and far smaller to be estimable)."
        )
    unknown = sorted(set(args.shared_features or ()) - set(features))
    if unknown:
        raise FitInputError(
            f"--shared-features {', '.join(unknown)}: not among the features "
            f"({', '.join(features)}); name feature columns.")
    args.shared_indices = ([features.index(name) for name in args.shared_features]
                           if args.shared_features else None)
    X = frame[features].to_numpy()
    y = frame[args.target].to_numpy()
    name = Path(args.data).name
    dropped = f", {n_dropped} rows with missing values dropped" if n_dropped else ""
    print(f"Data: {name}, n = {n} rows{dropped}; target {args.target!r}, "
          f"{len(features)} feature(s): {', '.join(features)}.")

    start = time.perf_counter()
    if len(ks) == 1:
        try:
            model, messages = _fit_one(ks[0], X, y, args)
        except ValueError as exc:
            raise FitInputError(
                f"the fit with k = {ks[0]} failed: "
                f"{str(exc).strip().splitlines()[0]}") from None
        for message in messages:
            print(f"gmoe fit: warning (k = {ks[0]}): {message}", file=sys.stderr)
        fits = {ks[0]: model}
        rows = [{"k": ks[0], "log_likelihood": model.log_likelihood_,
                 "bic": model.bic(X, y), "aic": model.aic(X, y),
                 "converged": bool(model.converged_), "n_iter": model.n_iter_,
                 "n_iter_em": model.n_iter_em_,
                 "n_iter_newton": model.n_iter_newton_}]
        chosen = ks[0]
    else:
        fits, rows, chosen = _select(ks, X, y, args)
    elapsed = time.perf_counter() - start
    model = fits[chosen]
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    if len(ks) > 1:
        starts = ("the default search" if args.n_init is None
                  else f"{args.n_init} start(s)")
        print(f"\nFits with k = {ks[0]} to {ks[-1]} experts ({elapsed:.1f} s, "
              f"{starts} each); * marks the smallest BIC among the "
              "fits without degenerate experts:")
        print(format_selection(rows, chosen))
        import pandas as pd

        pd.DataFrame(rows).to_csv(out / "selection.csv", index=False)

    row = next(r for r in rows if r["k"] == chosen)
    print(f"\nFitted model: k = {chosen} experts "
          f"({'chosen by BIC' if len(ks) > 1 else f'{elapsed:.1f} s'}).")
    print("Parameters (the gate's reference is the last expert; variances, not "
          "standard\ndeviations; weight: the share of the data each expert explains):")
    table = parameter_table(model, features)
    print(_format_parameters(table))
    print(f"Log-likelihood {row['log_likelihood']:.3f}, BIC {row['bic']:.3f}, "
          f"AIC {row['aic']:.3f}, {model.n_parameters()} parameters.")
    outcome = ("a certified maximum (converged_=True)" if model.converged_ else
               f"NOT converged (converged_=False, {model.solver_status_})")
    print(f"{model.n_iter_em_} EM + {model.n_iter_newton_} Newton iterations "
          f"(n_iter_={model.n_iter_}, tol={args.tol:g}, max_iter={args.max_iter}): "
          f"{outcome}, largest gradient entry {model.gradient_norm_:.1e}.")

    prediction = model.predict(X)
    interval = model.predict_interval(X, coverage=args.coverage)
    expert = model.predict_responsibilities(X, y).argmax(axis=1) + 1
    predictions = frame.copy()
    taken = set(predictions.columns)
    percent = f"{100 * args.coverage:g}"
    for column, values in ((f"predicted_{args.target}", prediction),
                           (f"lower_{percent}", interval[:, 0]),
                           (f"upper_{percent}", interval[:, 1]),
                           ("expert", expert)):
        column = _unique_name(column, taken)
        taken.add(column)
        predictions[column] = values
    predictions_path = out / "predictions.csv"
    predictions.to_csv(predictions_path, index=True, index_label="row")
    parameters_path = out / "parameters.csv"
    table.to_csv(parameters_path, index_label="parameter")
    figure_path = out / "fit.png"
    _draw(model, X, y, features, args.target, expert, args.coverage, figure_path)
    inside = np.mean((interval[:, 0] <= y) & (y <= interval[:, 1]))
    print(f"{percent}% prediction intervals hold {100 * inside:.1f}% of the data.")
    print(f"\nPredictions: {predictions_path}\nParameters:  {parameters_path}\n"
          f"Figure:      {figure_path}")
    if len(ks) > 1:
        print(f"Selection:   {out / 'selection.csv'}")
    return 0


def run(args):
    """Run the command; return the exit status (2 on bad input)."""
    try:
        return fit_command(args)
    except FitInputError as exc:
        print(f"gmoe fit: error: {exc}", file=sys.stderr)
        return 2
