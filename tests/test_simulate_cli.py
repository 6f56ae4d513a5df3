"""The ``gmoe simulate`` command and its TOML configuration."""

import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from gmoe.cli import main
from gmoe.simulation import _study, load_config
from gmoe.simulation._config import (
    ConfigError,
    config_summary,
    parse_config,
    shipped_configs,
)

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


ROOT = Path(__file__).resolve().parents[1]


def test_shipped_configurations_are_valid():
    shipped = shipped_configs()
    assert sorted(shipped) == ["n23_overfitted", "small"]
    for name, path in shipped.items():
        assert path.parent == ROOT / "gmoe" / "configs"
        config = load_config(name)
        assert config.study["n_replications"] >= 1
        assert config.name == name
        assert config_summary(path)
    with pytest.raises(ConfigError, match="preset"):
        parse_config({"study": {"n_experts": 2, "sample_sizes": [10],
                                "n_replications": 1, "random_state": 0},
                      "truth": {"preset": "N24"}})


def test_examples_folder_points_to_the_shipped_files():
    """``examples/configs/`` holds no copies that could drift from the package."""
    examples = sorted((ROOT / "examples" / "configs").glob("*.toml"))
    assert [path.stem for path in examples] == sorted(shipped_configs())
    for path in examples:
        assert path.resolve() == shipped_configs()[path.stem].resolve()


def test_list_configs_and_run_by_name(tmp_path, capsys, monkeypatch, no_fits):
    assert main(["simulate", "--list-configs"]) == 0
    printed = capsys.readouterr().out
    assert "small" in printed and "n23_overfitted" in printed
    assert str(ROOT / "gmoe" / "configs") in printed
    monkeypatch.chdir(tmp_path)  # names resolve anywhere, not only in a clone
    for argv in (["--config", "small"], ["small"], ["small.toml"]):
        assert main(["simulate", *argv, "--check"]) == 0
        assert "Study 'small'" in capsys.readouterr().out
    # A file of the same name in the working folder wins over the shipped one.
    write(tmp_path, TINY, name="small.toml")
    assert main(["simulate", "small.toml", "--check"]) == 0
    assert "Study 'tiny'" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    ([], "no configuration"),
    (["small", "--config", "small"], "either as CONFIG or as --config"),
    (["large"], "they are: n23_overfitted, small"),
])
def test_bad_config_arguments(capsys, no_fits, argv, message):
    assert main(["simulate", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gmoe simulate: error:") and message in err


def test_wheel_ships_the_configurations(tmp_path):
    """A wheel built from the package holds ``gmoe/configs/*.toml``."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "gmoe", source / "gmoe",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    wheels = tmp_path / "wheels"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q",
         "-w", str(wheels)],
        capture_output=True, text=True, timeout=600,
    )
    if done.returncode != 0:
        if "bdist_wheel" in done.stderr or "No matching distribution" in done.stderr:
            pytest.skip("pip cannot build a wheel here (no setuptools/wheel for the "
                        f"build environment): {done.stderr.strip()[-200:]}")
        raise AssertionError(done.stderr)
    (wheel,) = wheels.glob("gmoe-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for name, path in shipped_configs().items():
            member = f"gmoe/configs/{name}.toml"
            assert member in names
            assert archive.read(member) == path.read_bytes()
        metadata = archive.read(next(n for n in names
                                     if n.endswith(".dist-info/METADATA"))).decode()
    assert "Project-URL: Source, https://github.com/gmoe-dev/gmoe" in metadata
    assert "Classifier: Topic :: Scientific/Engineering" in metadata
