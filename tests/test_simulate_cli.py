"""The ``gmoe simulate`` command and its TOML configuration."""

import json
import textwrap

import pandas as pd
import pytest

from gmoe.cli import main
from gmoe.simulation import _study, load_config
from gmoe.simulation._config import ConfigError, parse_config

TINY = """
[study]
name = "tiny"
n_experts = 2
sample_sizes = [200, 400]
n_replications = 2
random_state = 4

[truth]
preset = "N23"

[fit]
init = "near_truth"
n_init = 1

[rate]
loss = "D1"
n_boot = 50
theory_slope = -0.5
"""


def write(tmp_path, text, name="study.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def no_fits(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a fit ran")

    monkeypatch.setattr(_study, "_fit_task", refuse)


def test_simulate_writes_table_rates_and_figure(tmp_path, capsys):
    config = write(tmp_path, TINY)
    out = tmp_path / "out"
    assert main(["simulate", str(config), "--out", str(out), "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "4 fits (4 new, 0 failed)" in printed
    results = pd.read_csv(out / "tiny_results.csv", keep_default_na=False,
                          na_values=[""])
    assert len(results) == 4
    assert sorted(results["n"].unique()) == [200, 400]
    summary = json.loads((out / "tiny_rates.json").read_text())
    rate = summary["rates"]["k=2"]["D1"]
    assert rate["sample_sizes"] == [200, 400]
    means = results.groupby("n")["D1"].mean()
    assert rate["mean"] == pytest.approx(means.tolist())
    assert f"slope {rate['slope']:.3f}" in printed
    png = (out / "tiny_rates.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # Running again resumes from the cache: nothing is refitted.
    assert main(["simulate", str(config), "--out", str(out)]) == 0
    assert "4 fits (0 new, 0 failed)" in capsys.readouterr().out


@pytest.mark.parametrize("change, message", [
    (("n_replications = 2", "n_replications = 2\ncolour = 'red'"),
     "[study] has unknown key(s) ['colour']"),
    (("[fit]", "[fitt]"), "unknown table(s) ['fitt']"),
    (("sample_sizes = [200, 400]", "sample_sizes = [-200, 400]"),
     "at least the number of experts"),
    (("n_experts = 2", "n_experts = 0"), "n_experts must be integers >= 1"),
    (("preset = \"N23\"", "gate_intercept = [-8.0, 0.0]\ngate_coef = [[25.0], [0.0]]\n"
      "expert_intercept = [15.0, -5.0]\nexpert_coef = [-20.0, 20.0]\n"
      "expert_variance = [0.09, 0.16]"), "expert_coef"),
    (("n_init = 1", "n_init = 1.5"), "[fit] n_init must be an integer"),
    (("n_init = 1", "n_init = 1\nestimator_params = {gate_tol = 1e-9}"),
     "does not pass on"),
    (("random_state = 4", "random_state = -4"), "random_state"),
    (("loss = \"D1\"", "loss = \"D3\"\nn_min = \"big\""), "[rate] n_min"),
    (("[rate]", "[loss]\nlosses = [\"D2\"]\n[rate]"), "is not computed"),
])
def test_bad_configuration_fails_fast_with_a_clear_message(tmp_path, capsys, no_fits,
                                                           change, message):
    old, new = change
    assert old in TINY
    config = write(tmp_path, TINY.replace(old, new, 1))
    assert main(["simulate", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gmoe simulate: error:")
    assert message in err
    assert not (tmp_path / "out").exists()


def test_missing_file_and_bad_toml(tmp_path, capsys, no_fits):
    assert main(["simulate", str(tmp_path / "nope.toml")]) == 2
    assert "no configuration file" in capsys.readouterr().err
    config = write(tmp_path, "[study\nn_experts = 2")
    assert main(["simulate", str(config)]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert main(["simulate", str(write(tmp_path, TINY)), "--jobs", "0"]) == 2
    assert "--jobs" in capsys.readouterr().err


def test_check_only_describes(tmp_path, capsys, no_fits):
    config = write(tmp_path, TINY)
    assert main(["simulate", str(config), "--check"]) == 0
    printed = capsys.readouterr().out
    for text in ("Study 'tiny'", "4 fits", "Configuration OK"):
        assert text in printed


def test_config_maps_onto_the_study_arguments(tmp_path):
    text = TINY.replace("sample_sizes = [200, 400]",
                        "sample_sizes = {start = 100, stop = 10000, num = 3}")
    text = text.replace("n_init = 1", "n_init = 1\n"
                        "estimator_params = {reg_variance = 1e-5}\n"
                        "near_truth_noise = {gate_sd = 0.01}")
    text += textwrap.dedent("""
        [data]
        design = "grid"
        [loss]
        losses = ["D1", "D2"]
        translation = "reference"
        rbar = {2 = 4, 3 = 6}
        """)
    config = load_config(write(tmp_path, text))
    study = config.study
    assert study["sample_sizes"] == [100, 1000, 10000]
    assert study["design"] == "grid"
    assert study["translation"] == "reference"
    assert study["rbar"] == {"2": 4, "3": 6}
    assert study["estimator_params"] == {"reg_variance": 1e-5}
    assert study["near_truth_noise"] == {"gate_sd": 0.01}
    assert config.rate["loss"] == "D1" and config.rate["window"] == (None, None)
    assert config.name == "tiny"


def test_example_configurations_are_valid():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "examples" / "configs"
    for path in sorted(folder.glob("*.toml")):
        config = load_config(path)
        assert config.study["n_replications"] >= 1
    with pytest.raises(ConfigError, match="preset"):
        parse_config({"study": {"n_experts": 2, "sample_sizes": [10],
                                "n_replications": 1, "random_state": 0},
                      "truth": {"preset": "N24"}})
