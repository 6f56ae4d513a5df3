"""The ``gmoe fit`` command: fits of a CSV file, model selection and bad input."""

import numpy as np
import pandas as pd
import pytest

from gmoe import GaussianMoERegressor
from gmoe.cli import main
from gmoe.commands._fit import FitInputError, parse_experts
from gmoe.datasets import make_moe_regression

N = 300


@pytest.fixture(scope="module")
def data():
    X, y = make_moe_regression(N, random_state=0)
    noise = np.random.default_rng(1).normal(size=N)
    return pd.DataFrame({"dose": X[:, 0], "noise": noise, "response": y})


@pytest.fixture
def csv(tmp_path, data):
    def write(frame=None, name="data.csv"):
        path = tmp_path / name
        (data if frame is None else frame).to_csv(path, index=False)
        return path

    return write


def run(argv, capsys):
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_fit_one_feature_writes_predictions_parameters_and_figure(tmp_path, csv, data,
                                                                  capsys):
    out = tmp_path / "out"
    status, printed, _ = run(["fit", str(csv()), "--target", "response",
                              "--features", "dose", "--experts", "2",
                              "--n-init", "2", "--output", str(out)], capsys)
    assert status == 0
    model = GaussianMoERegressor(2, n_init=2, random_state=0).fit(
        data[["dose"]].to_numpy(), data["response"].to_numpy())
    for text in ("gate slope dose", "expert slope dose", "variance",
                 f"Log-likelihood {model.log_likelihood_:.3f}",
                 f"BIC {model.bic(data[['dose']].to_numpy(), data['response']):.3f}",
                 "AIC", f"{model.n_iter_em_} EM + {model.n_iter_newton_} Newton",
                 "converged_=True"):
        assert text in printed
    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == N
    assert list(predictions.columns) == ["row", "dose", "response",
                                         "predicted_response", "lower_90",
                                         "upper_90", "expert"]
    X = data[["dose"]].to_numpy()
    np.testing.assert_allclose(predictions["predicted_response"], model.predict(X))
    np.testing.assert_allclose(predictions[["lower_90", "upper_90"]],
                               model.predict_interval(X, coverage=0.9))
    assert set(predictions["expert"]) <= {1, 2}
    parameters = pd.read_csv(out / "parameters.csv", index_col="parameter")
    np.testing.assert_allclose(parameters.loc["expert slope dose"],
                               model.expert_coef_[:, 0])
    assert (out / "fit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "selection.csv").exists()


def test_range_of_experts_chooses_the_smallest_bic(tmp_path, csv, data, capsys):
    out = tmp_path / "out"
    status, printed, _ = run(["fit", str(csv()), "-y", "response", "-x", "dose",
                              "-k", "1-3", "--n-init", "2", "-o", str(out)], capsys)
    assert status == 0
    selection = pd.read_csv(out / "selection.csv")
    assert selection["k"].tolist() == [1, 2, 3]
    assert {"log_likelihood", "bic", "aic", "converged", "n_iter"} <= set(selection)
    best = int(selection.loc[selection["bic"].idxmin(), "k"])
    assert best == 2  # the truth of make_moe_regression has two experts
    assert f"Fitted model: k = {best} experts (chosen by BIC)" in printed
    assert "*  2" in printed
    parameters = pd.read_csv(out / "parameters.csv", index_col="parameter")
    assert list(parameters.columns) == ["expert 1", "expert 2"]


def test_several_features_default_to_every_other_column(tmp_path, csv, capsys):
    out = tmp_path / "out"
    status, printed, _ = run(["fit", str(csv()), "--target", "response",
                              "--experts", "2", "--n-init", "1", "--output",
                              str(out)], capsys)
    assert status == 0
    assert "2 feature(s): dose, noise" in printed
    assert "gate slope noise" in printed
    predictions = pd.read_csv(out / "predictions.csv")
    assert {"dose", "noise", "expert"} <= set(predictions.columns)
    assert (out / "fit.png").exists()


def test_drop_na_keeps_the_row_numbers(tmp_path, csv, data, capsys):
    frame = data.copy()
    frame.loc[[3, 10], "dose"] = np.nan
    frame.loc[20, "response"] = np.nan
    frame.loc[25, "noise"] = np.nan  # not a column used: kept
    out = tmp_path / "out"
    status, printed, _ = run(["fit", str(csv(frame)), "-y", "response", "-x", "dose",
                              "-k", "1", "--drop-na", "-o", str(out)], capsys)
    assert status == 0
    assert "3 rows with missing values dropped" in printed
    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == N - 3
    assert 25 in set(predictions["row"]) and 3 not in set(predictions["row"])


def error_of(argv, capsys):
    status, printed, err = run(argv, capsys)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gmoe fit: error: ")
    assert "Traceback" not in err
    return lines[0]


def test_missing_file(tmp_path, capsys):
    message = error_of(["fit", str(tmp_path / "nope.csv"), "-y", "y"], capsys)
    assert "no data file" in message and "nope.csv" in message
    message = error_of(["fit", str(tmp_path), "-y", "y"], capsys)
    assert "is a folder" in message
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "is empty" in error_of(["fit", str(empty), "-y", "y"], capsys)


def test_missing_columns_list_the_available_ones(csv, capsys):
    message = error_of(["fit", str(csv()), "-y", "respons"], capsys)
    assert "no column 'respons'" in message
    assert "'dose', 'noise', 'response'" in message
    message = error_of(["fit", str(csv()), "-y", "response", "-x", "dose", "dosage"],
                       capsys)
    assert "no column(s) 'dosage'" in message and "'dose', 'noise'" in message
    message = error_of(["fit", str(csv()), "-y", "response", "-x", "response"],
                       capsys)
    assert "also among the features" in message


def test_non_numeric_columns_are_named(csv, data, capsys):
    frame = data.copy()
    frame["group"] = "a"
    frame["dose"] = frame["dose"].astype(object)
    frame.loc[7, "dose"] = "high"
    message = error_of(["fit", str(csv(frame)), "-y", "response"], capsys)
    assert "'dose', 'group'" in message and "not numeric" in message
    assert "'high' on line 9" in message
    # A non-numeric column that is not used does not matter.
    status, _, _ = run(["fit", str(csv(frame)), "-y", "response", "-x", "noise",
                        "-k", "1", "-o", str(csv(frame).parent / "out")], capsys)
    assert status == 0


def test_missing_values_are_counted_and_located(csv, data, capsys):
    frame = data.copy()
    rows = [0, 4, 5, 50, 51, 52, 200]
    frame.loc[rows, "dose"] = np.nan
    frame.loc[9, "response"] = np.inf
    message = error_of(["fit", str(csv(frame)), "-y", "response", "-x", "dose"],
                       capsys)
    assert "8 rows of data.csv have missing or infinite values" in message
    assert "lines 2, 6, 7, 11, 52, ..." in message  # line 1 is the header
    assert "--drop-na" in message


def test_too_many_experts_and_bad_experts_option(tmp_path, csv, data, capsys):
    small = csv(data.head(4), name="small.csv")
    message = error_of(["fit", str(small), "-y", "response", "-k", "2-5"], capsys)
    assert "up to 5 experts" in message and "4 rows" in message
    for spec in ("two", "3-1", "0", "1-", ""):
        assert "--experts" in error_of(["fit", str(small), "-y", "response", "-k",
                                        spec], capsys)
    assert not (tmp_path / "gmoe-fit").exists()


def test_parse_experts():
    assert parse_experts("3") == [3]
    assert parse_experts("1-6") == [1, 2, 3, 4, 5, 6]
    assert parse_experts("1,2,3") == [1, 2, 3]
    assert parse_experts("4,1-2") == [1, 2, 4]
    with pytest.raises(FitInputError):
        parse_experts("1.5")


def test_fit_is_listed_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "fit" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    help_text = capsys.readouterr().out
    for option in ("--target", "--features", "--experts", "--random-state",
                   "--n-init", "--drop-na", "--output"):
        assert option in help_text


@pytest.mark.parametrize("gate, gate_rows", [
    ("constant", ["gate intercept"]),
    ("laplace", ["gate intercept", "gate centre dose"]),
    ("gaussian", ["gate weight", "gate mean dose", "gate covariance dose,dose"]),
])
def test_other_gates(tmp_path, csv, data, capsys, gate, gate_rows):
    out = tmp_path / "out"
    status, printed, _ = run(["fit", str(csv()), "-y", "response", "-x", "dose",
                              "-k", "2", "--n-init", "2", "--gate", gate,
                              "-o", str(out)], capsys)
    assert status == 0
    model = GaussianMoERegressor(2, n_init=2, random_state=0, gate=gate).fit(
        data[["dose"]].to_numpy(), data["response"].to_numpy())
    assert f"Log-likelihood {model.log_likelihood_:.3f}" in printed
    parameters = pd.read_csv(out / "parameters.csv", index_col="parameter")
    assert parameters.index.tolist()[:len(gate_rows)] == gate_rows
    assert not any(name.startswith("gate slope") for name in parameters.index)
    predictions = pd.read_csv(out / "predictions.csv")
    np.testing.assert_allclose(predictions["predicted_response"],
                               model.predict(data[["dose"]].to_numpy()))


def test_shared_features_and_variance(tmp_path, csv, data, capsys):
    out = tmp_path / "out"
    status, printed, _ = run(["fit", str(csv()), "-y", "response", "-k", "2",
                              "--n-init", "2", "--shared-features", "noise",
                              "--shared-variance", "-o", str(out)], capsys)
    assert status == 0
    model = GaussianMoERegressor(2, n_init=2, random_state=0, shared_features=[1],
                                 shared_variance=True).fit(
        data[["dose", "noise"]].to_numpy(), data["response"].to_numpy())
    assert f"Log-likelihood {model.log_likelihood_:.3f}" in printed
    assert np.ptp(model.expert_coef_[:, 1]) == 0 and np.ptp(model.expert_variance_) == 0
    status, _, err = run(["fit", str(csv()), "-y", "response", "-k", "2",
                          "--shared-features", "dosage", "-o", str(out)], capsys)
    assert status != 0 and "--shared-features dosage: not among the features" in err


def test_default_search_is_the_estimators(tmp_path, csv, data, capsys):
    out = tmp_path / "out"
    status, printed, _ = run(["fit", str(csv()), "-y", "response", "-x", "dose",
                              "-k", "2", "-o", str(out)], capsys)
    assert status == 0
    model = GaussianMoERegressor(2, random_state=0).fit(
        data[["dose"]].to_numpy(), data["response"].to_numpy())
    assert f"Log-likelihood {model.log_likelihood_:.3f}" in printed
    assert "a certified maximum (converged_=True)" in printed
