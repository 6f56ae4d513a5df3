"""``gmoe simulate``: run a rate study described in a TOML file."""

import sys
import time


def add_parser(subparsers):
    """Register the ``simulate`` command."""
    parser = subparsers.add_parser(
        "simulate",
        help="run a parameter-rate study described in a TOML file",
        description=(
            "Fit k experts to many samples of a known mixture of experts, at several "
            "sample sizes, and estimate how fast the Voronoi losses and each "
            "parameter converge. Writes the results table (CSV), the rates (JSON) "
            "and the log-log figure (PNG). Finished fits are cached: running the "
            "same command again resumes an interrupted study. Example studies ship "
            "with gmoe: --list-configs lists them and where they are (copy one to "
            "start your own), and --config small runs one by its name. "
            "--consistency runs instead the study of the choice of the number of "
            "experts: on many data sets of two known truths, how often BIC, ICL, "
            "AIC and DSC choose the true k (about 15 min on one core; "
            "--consistency quick: seconds)."
        ),
    )
    parser.add_argument("config", nargs="?", default=None,
                        help="TOML file describing the study, or the name of a "
                             "shipped one (see --list-configs)")
    parser.add_argument("--config", dest="config_option", default=None,
                        metavar="NAME_OR_FILE",
                        help="the same as the positional CONFIG: a shipped name "
                             "(small, n23_overfitted) or a TOML file")
    parser.add_argument("--list-configs", action="store_true",
                        help="list the configurations shipped with gmoe, with their "
                             "files, and stop")
    parser.add_argument("--jobs", "-j", type=int, default=1,
                        help="local worker processes (default: 1; -1: all cores)")
    parser.add_argument("--out", default="gmoe-simulate",
                        help="output folder (default: ./gmoe-simulate)")
    parser.add_argument("--cache", default=None,
                        help="cache folder of finished fits (default: OUT/cache)")
    parser.add_argument("--scheduler", default=None,
                        help="address of a running Dask scheduler to run the fits on "
                             "(needs the 'dask' extra); --jobs is then ignored")
    parser.add_argument("--replications", type=int, default=None, metavar="R",
                        help="run only the first R replications of each sample size "
                             "(a subset of the full study: its fits are cached and "
                             "reused when the full study runs)")
    parser.add_argument("--retry-failed", action="store_true",
                        help="refit the cached fits that raised an error")
    parser.add_argument("--check", action="store_true",
                        help="only check the configuration and describe the study")
    parser.add_argument("--consistency", nargs="?", const="full", default=None,
                        choices=["full", "quick"],
                        help="run the consistency study of the choice of k (BIC, "
                             "ICL, AIC, DSC) instead of a rate study; writes "
                             "consistency.csv, consistency_summary.csv and "
                             "consistency.png into --out (--replications: data "
                             "sets per truth and n)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (it is shown only on a terminal anyway)")
    parser.set_defaults(func=run)
    return parser


def run(args):
    """Run the command; return the exit status."""
    from gmoe.simulation._config import (
        ConfigError,
        config_folder,
        config_summary,
        describe,
        load_config,
        run_config,
        shipped_configs,
    )

    if args.consistency is not None:
        return run_consistency(args)
    if args.list_configs:
        shipped = shipped_configs()
        width = max(len(name) for name in shipped)
        print("Study configurations shipped with gmoe "
              "(run one with: gmoe simulate --config NAME):")
        for name, path in shipped.items():
            print(f"  {name:<{width}}  {config_summary(path)}")
        print(f"Their files are in {config_folder()}; copy one to write your own.")
        return 0
    try:
        if args.config is not None and args.config_option is not None:
            raise ConfigError("give the configuration once: either as CONFIG or as "
                              "--config, not both.")
        source = args.config if args.config is not None else args.config_option
        if source is None:
            raise ConfigError("no configuration: give a TOML file or the name of a "
                              "shipped one (gmoe simulate --list-configs lists them).")
        config = load_config(source)
        if args.jobs == 0 or args.jobs < -1:
            raise ConfigError(
                f"--jobs must be a positive integer or -1; got {args.jobs}."
            )
        if args.replications is not None:
            if args.replications < 1:
                raise ConfigError(
                    f"--replications must be at least 1; got {args.replications}."
                )
            config.study["n_replications"] = args.replications
    except ConfigError as exc:
        print(f"gmoe simulate: error: {exc}", file=sys.stderr)
        return 2
    print(describe(config))
    if args.check:
        print("Configuration OK.")
        return 0
    client = None
    if args.scheduler is not None:
        try:
            from distributed import Client
        except ImportError:
            print("gmoe simulate: error: --scheduler needs dask.distributed; "
                  "pip install 'gmoe[dask]'.", file=sys.stderr)
            return 2
        client = Client(args.scheduler)
    start = time.perf_counter()
    try:
        outputs = run_config(config, args.out, n_jobs=args.jobs, cache=args.cache,
                             client=client,
                             progress=False if args.no_progress else None,
                             retry_failed=args.retry_failed)
    finally:
        if client is not None:
            client.close()
    elapsed = time.perf_counter() - start
    results = outputs["results"]
    n_new = len(results) - results.attrs.get("n_cached", 0)
    n_failed = int((results["error"] != "").sum())
    print(f"{len(results)} fits ({n_new} new, {n_failed} failed) in {elapsed:.1f} s.")
    if n_failed:
        first = results.loc[results["error"] != "", "error"].iloc[0]
        print(f"  first error: {first.splitlines()[0]}\n  (see the 'error' column; "
              "--retry-failed refits the failed fits)")
    loss = config.rate["loss"]
    for key, rates in outputs["rates"].items():
        estimate = rates.get(loss)
        if estimate is None:
            continue
        if isinstance(estimate, dict):
            print(f"  {key}: {loss}: no rate ({estimate['error']})")
        else:
            print(f"  {key}: {estimate}")
    print(f"Results: {outputs['csv']}\nRates:   {outputs['json']}\n"
          f"Figure:  {outputs['figure']}")
    return 0


def run_consistency(args):
    """``gmoe simulate --consistency``: the choice of k on many data sets."""
    from pathlib import Path

    from gmoe.simulation._consistency import (
        CONSISTENCY_GRID,
        consistency_summary,
        plot_consistency,
        run_consistency_study,
    )

    grid = dict(CONSISTENCY_GRID[args.consistency])
    if args.replications is not None:
        if args.replications < 1:
            print(f"gmoe simulate: error: --replications must be at least 1; got "
                  f"{args.replications}.", file=sys.stderr)
            return 2
        grid["n_datasets"] = args.replications
    if args.jobs == 0 or args.jobs < -1:
        print(f"gmoe simulate: error: --jobs must be a positive integer or -1; got "
              f"{args.jobs}.", file=sys.stderr)
        return 2
    n_sets = 2 * len(grid["sample_sizes"]) * grid["n_datasets"]
    print(f"Consistency study ({args.consistency}): two truths, n in "
          f"{list(grid['sample_sizes'])}, {grid['n_datasets']} data sets each "
          f"({n_sets} in all), k = {list(grid['n_experts'])}.")
    if args.check:
        print("Configuration OK.")
        return 0
    start = time.perf_counter()
    results = run_consistency_study(
        n_jobs=args.jobs, progress=False if args.no_progress else None, **grid)
    summary = consistency_summary(results, ("bic", "icl", "aic", "dsc"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results.to_csv(out / "consistency.csv", index=False)
    summary.to_csv(out / "consistency_summary.csv", index=False)
    import matplotlib

    matplotlib.use("Agg")
    fig = plot_consistency(summary[summary["criterion"] != "aic"])
    fig.savefig(out / "consistency.png", dpi=120)
    print(f"{len(results)} data sets in {time.perf_counter() - start:.1f} s.")
    table = summary.pivot_table(index=["truth", "n"], columns="criterion",
                                values="share")
    print("Share of data sets on which each criterion chose the true k:")
    print(table.round(2).to_string())
    print(f"Results: {out / 'consistency.csv'}\nSummary: "
          f"{out / 'consistency_summary.csv'}\nFigure:  {out / 'consistency.png'}")
    return 0
