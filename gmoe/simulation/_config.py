"""Rate studies described in TOML files (the ``gmoe simulate`` command).

A configuration has the tables ``[study]`` (required), ``[truth]`` (required),
``[data]``, ``[fit]``, ``[loss]`` and ``[rate]``; see
``docs/user_guide/simulation.rst`` for every key.  Unknown tables or keys, wrong
types and bad values are refused with a message naming the key, before any fit.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gmoe.datasets import N23_TRUTH, PARAM_NAMES, TOPK_TRUTH
from gmoe.simulation._rates import estimate_rate, rates_to_json
from gmoe.simulation._spec import LOSS_KINDS, check_study
from gmoe.simulation._study import run_rate_study, sample_size_grid
from gmoe.simulation._truth import NEAR_TRUTH_NOISE

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        tomllib = None

#: Named truths a configuration may use with ``[truth] preset = "..."``.
TRUTH_PRESETS = {"N23": N23_TRUTH, "TOPK": TOPK_TRUTH}

_KEYS = {
    "study": {"name", "n_experts", "sample_sizes", "n_replications", "random_state"},
    "truth": {"preset", "top_k", *PARAM_NAMES},
    "data": {"design", "low", "high"},
    "fit": {"init", "n_init", "max_iter", "tol", "near_truth_noise",
            "estimator_params"},
    "loss": {"losses", "translation", "metric", "rbar"},
    "rate": {"loss", "n_min", "n_max", "theory_slope", "n_boot", "confidence"},
}
_REQUIRED = {"study": {"n_experts", "sample_sizes", "n_replications", "random_state"},
             "truth": set()}
_GRID_KEYS = {"start", "stop", "num", "spacing"}


class ConfigError(ValueError):
    """A configuration file that cannot describe a study."""


@dataclass
class StudyConfig:
    """A checked study configuration.

    Attributes
    ----------
    name : str
        Name of the study (file names and titles).
    study : dict
        Keyword arguments of :func:`gmoe.simulation.run_rate_study` (except the
        execution ones: ``n_jobs``, ``cache``, ``client``, ``progress``).
    rate : dict
        ``loss``, ``window``, ``theory_slope``, ``n_boot``, ``confidence``.
    source : str or None
        The file it came from.
    """

    name: str
    study: dict
    rate: dict = field(default_factory=dict)
    source: str = None


def _type_name(value):
    return type(value).__name__


def _expect(section, key, value, kinds, what):
    if isinstance(value, bool) and bool not in kinds:
        raise ConfigError(f"[{section}] {key} must be {what}; got {value!r}.")
    if not isinstance(value, kinds):
        raise ConfigError(
            f"[{section}] {key} must be {what}; got {value!r} ({_type_name(value)})."
        )
    return value


def _sample_sizes(value):
    if isinstance(value, dict):
        unknown = sorted(set(value) - _GRID_KEYS)
        missing = sorted({"start", "stop", "num"} - set(value))
        if unknown or missing:
            raise ConfigError(
                "[study] sample_sizes as a table needs the keys start, stop, num "
                f"(and optionally spacing = 'log' or 'linear'); unknown {unknown}, "
                f"missing {missing}."
            )
        for key in ("start", "stop", "num"):
            _expect("study", f"sample_sizes.{key}", value[key], (int,), "an integer")
        try:
            return sample_size_grid(value["start"], value["stop"], value["num"],
                                    spacing=value.get("spacing", "log")).tolist()
        except ValueError as exc:
            raise ConfigError(f"[study] sample_sizes: {exc}") from None
    if isinstance(value, list) and value and all(
        isinstance(n, int) and not isinstance(n, bool) for n in value
    ):
        return value
    raise ConfigError(
        "[study] sample_sizes must be a list of integers or a table "
        f"{{start = ..., stop = ..., num = ..., spacing = 'log'}}; got {value!r}."
    )


def _truth(section):
    preset = section.get("preset")
    arrays = {name: section[name] for name in PARAM_NAMES if name in section}
    if preset is not None:
        if arrays:
            raise ConfigError(
                f"[truth] gives both preset = {preset!r} and arrays {sorted(arrays)}; "
                "use one or the other."
            )
        if preset not in TRUTH_PRESETS:
            raise ConfigError(
                f"[truth] preset must be one of {sorted(TRUTH_PRESETS)}; got "
                f"{preset!r}."
            )
        return {name: np.array(value) for name, value in TRUTH_PRESETS[preset].items()}
    missing = [name for name in PARAM_NAMES if name not in arrays]
    if missing:
        raise ConfigError(
            f"[truth] needs preset = 'N23' or all five arrays; missing {missing}."
        )
    return arrays


def parse_config(data, source=None):
    """Check a configuration given as a dict (the parsed TOML).

    Parameters
    ----------
    data : dict
        Tables ``study``, ``truth`` and optionally ``data``, ``fit``, ``loss``,
        ``rate``.
    source : str or None, default=None
        Where it came from, for messages.

    Returns
    -------
    config : StudyConfig

    Raises
    ------
    ConfigError
        (a ValueError) naming the key to fix; the whole study description is
        checked (:func:`gmoe.simulation.check_study`), so a config that parses
        runs.

    Examples
    --------
    >>> config = parse_config({
    ...     "study": {"n_experts": 3, "sample_sizes": [1000, 2000],
    ...               "n_replications": 2, "random_state": 0},
    ...     "truth": {"preset": "N23"}})
    >>> config.study["n_experts"], config.rate["loss"]
    (3, 'D2')
    >>> parse_config({"study": {}, "truth": {}, "fitt": {}})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gmoe.simulation._config.ConfigError: unknown table(s) ['fitt']; allowed: ...
    """
    if not isinstance(data, dict):
        raise ConfigError(
            f"a configuration is a table of tables; got {_type_name(data)}."
        )
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ConfigError(f"unknown table(s) {unknown}; allowed: {sorted(_KEYS)}.")
    for section, keys in _KEYS.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"[{section}] must be a table; got {table!r}.")
        bad = sorted(set(table) - keys)
        if bad:
            raise ConfigError(
                f"[{section}] has unknown key(s) {bad}; allowed: {sorted(keys)}."
            )
        missing = sorted(_REQUIRED.get(section, set()) - set(table))
        if missing or (section in _REQUIRED and section not in data):
            raise ConfigError(f"[{section}] is missing the key(s) {missing}.")
    study_table = data["study"]
    data_table = data.get("data", {})
    fit_table = dict(data.get("fit", {}))
    loss_table = data.get("loss", {})
    rate_table = data.get("rate", {})

    n_experts = study_table["n_experts"]
    if not (isinstance(n_experts, int) and not isinstance(n_experts, bool)) and not (
        isinstance(n_experts, list) and n_experts
    ):
        raise ConfigError(
            f"[study] n_experts must be an integer or a list of integers; got "
            f"{n_experts!r}."
        )
    study = {
        "truth": _truth(data["truth"]),
        "n_experts": n_experts,
        "sample_sizes": _sample_sizes(study_table["sample_sizes"]),
        "n_replications": _expect("study", "n_replications",
                                  study_table["n_replications"], (int,), "an integer"),
        "random_state": _expect("study", "random_state", study_table["random_state"],
                                (int,), "an integer"),
    }
    if "top_k" in data["truth"]:
        # the truth's gate: top-K sparse softmax (the fitted gate's K goes in
        # [fit] estimator_params = {top_k = K})
        study["truth_top_k"] = _expect("truth", "top_k", data["truth"]["top_k"],
                                       (int,), "an integer")
    for key, kinds, what in (("design", (str,), "a string"),
                             ("low", (int, float), "a number"),
                             ("high", (int, float), "a number")):
        if key in data_table:
            study[key] = _expect("data", key, data_table[key], kinds, what)
    for key, kinds, what in (("init", (str,), "a string"),
                             ("n_init", (int,), "an integer"),
                             ("max_iter", (int,), "an integer"),
                             ("tol", (int, float), "a number"),
                             ("near_truth_noise", (dict,), f"a table with keys among "
                              f"{list(NEAR_TRUTH_NOISE)}"),
                             ("estimator_params", (dict,), "a table of estimator "
                              "options such as {reg_variance = 1e-6}")):
        if key in fit_table:
            study[key] = _expect("fit", key, fit_table[key], kinds, what)
    for key, kinds, what in (("losses", (list,), f"a list among {list(LOSS_KINDS)}"),
                             ("translation", (str,), "a string"),
                             ("metric", (str,), "a string"),
                             ("rbar", (dict,), "a table such as {2 = 4, 3 = 6}")):
        if key in loss_table:
            study[key] = _expect("loss", key, loss_table[key], kinds, what)
    try:
        check_study(**study)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source or 'configuration'}: {exc}") from None

    losses = study.get("losses", LOSS_KINDS)
    rate = {
        "loss": rate_table.get("loss", "D2" if "D2" in losses else losses[0]
                               if losses else None),
        "window": (rate_table.get("n_min"), rate_table.get("n_max")),
        "theory_slope": rate_table.get("theory_slope", -0.5),
        "n_boot": rate_table.get("n_boot", 1000),
        "confidence": rate_table.get("confidence", 0.95),
    }
    if rate["loss"] is None:
        raise ConfigError("[rate] loss is needed when [loss] losses is empty.")
    _expect("rate", "loss", rate["loss"], (str,), "a column name such as 'D2'")
    if rate["loss"] in LOSS_KINDS and rate["loss"] not in losses:
        raise ConfigError(
            f"[rate] loss = {rate['loss']!r} is not computed; [loss] losses = {losses}."
        )
    for bound in ("n_min", "n_max"):
        if bound in rate_table:
            _expect("rate", bound, rate_table[bound], (int,), "an integer")
    _expect("rate", "theory_slope", rate["theory_slope"], (int, float), "a number")
    _expect("rate", "n_boot", rate["n_boot"], (int,), "an integer")
    if rate["n_boot"] < 0:
        raise ConfigError(f"[rate] n_boot must be >= 0; got {rate['n_boot']}.")
    _expect("rate", "confidence", rate["confidence"], (float,), "a number in (0, 1)")
    if not 0 < rate["confidence"] < 1:
        raise ConfigError(
            f"[rate] confidence must be in (0, 1); got {rate['confidence']}."
        )
    name = study_table.get("name", Path(source).stem if source else "study")
    _expect("study", "name", name, (str,), "a string")
    return StudyConfig(name=name, study=study, rate=rate, source=source)


def config_folder():
    """The folder of the study configurations shipped with gmoe.

    Returns
    -------
    folder : Path
        ``gmoe/configs`` inside the installed package.

    Examples
    --------
    >>> config_folder().name
    'configs'
    """
    from importlib.resources import files

    return Path(str(files("gmoe").joinpath("configs")))


def shipped_configs():
    """The study configurations shipped with gmoe, by name.

    Returns
    -------
    configs : dict
        ``{name: path}``, sorted by name; the name is the file name without
        ``.toml``.

    Examples
    --------
    >>> sorted(shipped_configs())
    ['n23_overfitted', 'small']
    """
    return {path.stem: path for path in sorted(config_folder().glob("*.toml"))}


def config_summary(path):
    """The first comment line of a configuration file (what the study is).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    summary : str
        Without the leading ``#``; empty when the file starts with no comment.

    Examples
    --------
    >>> config_summary(shipped_configs()["small"])
    'A small study that runs in well under a minute.'
    """
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line:
            break
    return ""


def resolve_config(name_or_path):
    """The file of a configuration given by its path or by a shipped name.

    An existing file wins; otherwise a name such as ``"small"`` (or
    ``"small.toml"``) is looked up among :func:`shipped_configs`.

    Parameters
    ----------
    name_or_path : str or Path

    Returns
    -------
    path : Path

    Raises
    ------
    ConfigError
        When it is neither an existing file nor a shipped name.

    Examples
    --------
    >>> resolve_config("small") == shipped_configs()["small"]
    True
    >>> resolve_config("large")
    Traceback (most recent call last):
    ...
    gmoe.simulation._config.ConfigError: no configuration file large, and no \
configuration of that name ships with gmoe (they are: n23_overfitted, small).
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_configs()
    text = str(name_or_path)
    stem = text[:-5] if text.endswith(".toml") else text
    if path.parent == Path(".") and stem in shipped:
        return shipped[stem]
    raise ConfigError(
        f"no configuration file {path}, and no configuration of that name ships "
        f"with gmoe (they are: {', '.join(shipped)})."
    )


def load_config(path):
    """Read and check a TOML study configuration.

    Parameters
    ----------
    path : str or Path
        A TOML file, or the name of a configuration shipped with gmoe (see
        :func:`resolve_config`).

    Returns
    -------
    config : StudyConfig

    Raises
    ------
    ConfigError
        (a ValueError) on a missing file, bad TOML, or a bad study description.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> text = '''
    ... [study]
    ... n_experts = [2, 3]
    ... sample_sizes = {start = 1000, stop = 10000, num = 3}
    ... n_replications = 2
    ... random_state = 0
    ... [truth]
    ... preset = "N23"
    ... '''
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "small.toml"
    >>> _ = path.write_text(text)
    >>> load_config(path).study["sample_sizes"]
    [1000, 3162, 10000]

    A configuration shipped with gmoe is loaded by its name:

    >>> load_config("small").study["n_experts"]
    [2, 3]
    """
    if tomllib is None:  # pragma: no cover - Python 3.10 without tomli
        raise ConfigError("reading TOML on Python 3.10 needs the package tomli: "
                          "pip install tomli.")
    path = resolve_config(path)
    try:
        with path.open("rb") as stream:
            data = tomllib.load(stream)
    except FileNotFoundError:
        raise ConfigError(f"no configuration file {path}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.") from None
    return parse_config(data, source=str(path))


def summarise_rates(results, config):
    """Rates of every loss and error column, per number of experts.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`gmoe.simulation.run_rate_study`.
    config : StudyConfig

    Returns
    -------
    summary : dict
        ``{"k=<k>": {column: RateEstimate or {"error": message}}}``: a column whose
        rate cannot be estimated on the window (e.g. a cell size that never
        occurred) carries the reason instead.

    Examples
    --------
    >>> import pandas as pd
    >>> config = load_config("small")
    >>> results = pd.DataFrame({"k": [2] * 4, "n": [1000, 1000, 4000, 4000],
    ...                         "D1": [0.04, 0.06, 0.02, 0.03]})
    >>> summary = summarise_rates(results, config)
    >>> list(summary), round(summary["k=2"]["D1"].slope, 3)
    (['k=2'], -0.5)
    """
    rate = config.rate
    columns = [c for c in results.columns
               if c in LOSS_KINDS or c.startswith("err_")]
    summary = {}
    for k in sorted(results["k"].unique()):
        rows = results[results["k"] == k]
        per_k = {}
        for column in columns:
            if not rows[column].notna().any():
                continue
            try:
                per_k[column] = estimate_rate(
                    rows, column, window=rate["window"], n_boot=rate["n_boot"],
                    confidence=rate["confidence"],
                    random_state=config.study["random_state"],
                )
            except ValueError as exc:
                per_k[column] = {"error": str(exc)}
        summary[f"k={int(k)}"] = per_k
    return summary


def run_config(config, out, *, n_jobs=1, cache=None, client=None, progress=None,
               retry_failed=False):
    """Run a configured study and write its results, rates and figure.

    Writes ``<out>/<name>_results.csv`` (one row per fit),
    ``<out>/<name>_rates.json`` (:func:`summarise_rates`, plus the study's
    description) and ``<out>/<name>_rates.png`` (one panel per number of experts:
    the ``[rate] loss`` against ``n`` with its fitted and theoretical slopes).

    Parameters
    ----------
    config : StudyConfig or str or Path
        A checked configuration, or the path of a TOML file.
    out : str or Path
        Output folder (created).
    n_jobs, cache, client, progress, retry_failed :
        As in :func:`gmoe.simulation.run_rate_study`; ``cache`` defaults to
        ``<out>/cache``.

    Returns
    -------
    outputs : dict
        ``results`` (DataFrame), ``rates`` (dict), and the paths ``csv``,
        ``json``, ``figure``.

    Examples
    --------
    A tiny study (2 sample sizes, 2 replications) written as a dict and checked
    with :func:`parse_config`; a TOML file or a shipped name such as ``"small"``
    works the same way:

    >>> import tempfile
    >>> config = parse_config({
    ...     "study": {"name": "tiny", "n_experts": 2, "sample_sizes": [300, 600],
    ...               "n_replications": 2, "random_state": 0},
    ...     "truth": {"preset": "N23"},
    ...     "fit": {"init": "near_truth"},
    ...     "rate": {"loss": "D1", "n_boot": 50},
    ... })
    >>> outputs = run_config(config, tempfile.mkdtemp(), progress=False)
    >>> len(outputs["results"]), outputs["csv"].name
    (4, 'tiny_results.csv')
    >>> outputs["rates"]["k=2"]["D1"].sample_sizes.tolist()
    [300, 600]
    >>> outputs["json"].name, outputs["figure"].name
    ('tiny_rates.json', 'tiny_rates.png')
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gmoe.plotting import plot_rate

    if not isinstance(config, StudyConfig):
        config = load_config(config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "cache" if cache is None else cache
    results = run_rate_study(**config.study, n_jobs=n_jobs, cache=cache, client=client,
                             progress=progress, retry_failed=retry_failed)
    csv_path = out / f"{config.name}_results.csv"
    results.to_csv(csv_path, index=False)
    rates = summarise_rates(results, config)
    json_path = out / f"{config.name}_rates.json"
    payload = {
        "name": config.name,
        "source": config.source,
        "rate": {**config.rate, "window": list(config.rate["window"])},
        "study": results.attrs.get("study"),
        "n_fits": int(len(results)),
        "n_failed": int((results["error"] != "").sum()),
        "rates": rates,
    }
    json_path.write_text(rates_to_json(payload))
    ks = sorted(results["k"].unique())
    fig, axes = plt.subplots(1, len(ks), figsize=(5.5 * len(ks), 4.5), squeeze=False)
    loss = config.rate["loss"]
    for ax, k in zip(axes[0], ks, strict=True):
        estimate = rates[f"k={int(k)}"].get(loss)
        if estimate is None or isinstance(estimate, dict):
            reason = "no values" if estimate is None else estimate["error"]
            ax.text(0.5, 0.5, f"no rate for {loss}:\n{reason}", ha="center",
                    va="center", wrap=True, transform=ax.transAxes, fontsize="small")
        else:
            plot_rate(results, loss, k=int(k), rate=estimate,
                      theory_slope=config.rate["theory_slope"], ax=ax)
        ax.set_title(f"{config.name}: k = {int(k)} experts")
    fig.tight_layout()
    figure_path = out / f"{config.name}_rates.png"
    fig.savefig(figure_path, dpi=120)
    plt.close(fig)
    return {"results": results, "rates": rates, "csv": csv_path, "json": json_path,
            "figure": figure_path}


def describe(config):
    """One paragraph describing a configured study (printed by ``gmoe simulate``).

    Parameters
    ----------
    config : StudyConfig

    Returns
    -------
    text : str

    Examples
    --------
    >>> print(describe(load_config("small")))  # doctest: +NORMALIZE_WHITESPACE
    Study 'small': k = [2, 3], 4 sample sizes from 1000 to 8000, 3 replications
    (24 fits), random_state = 0, options {"init": "near_truth", "n_init": 1}.
    """
    study = config.study
    sizes = study["sample_sizes"]
    ks = study["n_experts"]
    ks = ks if isinstance(ks, list) else [ks]
    n_fits = len(ks) * len(sizes) * study["n_replications"]
    options = {key: study[key]
               for key in ("init", "n_init", "max_iter", "tol", "design")
               if key in study}
    return (
        f"Study {config.name!r}: k = {ks}, {len(sizes)} sample sizes from {min(sizes)} "
        f"to {max(sizes)}, {study['n_replications']} replications ({n_fits} fits), "
        f"random_state = {study['random_state']}, options {json.dumps(options)}."
    )
