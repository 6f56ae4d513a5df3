"""Make the R flexmix golden data of ``tests/test_flexmix_golden.py``.

Draws a small data set from the true model of [N23] (``gmoe.datasets.N23_TRUTH``,
d = 1, k = 2, X uniform on [0, 1]), writes it to ``tests/data/flexmix_golden.csv``,
fits it with R flexmix (``benchmarks/flexmix_fit.R``: best of ``--nrep`` random
starts, ``minprior = 0``) and writes what flexmix reached to
``tests/data/flexmix_golden.json``: its log-likelihood, its parameters (gmoe's
conventions: variances, last expert as gate reference), its settings, the R and
flexmix versions and the date.

The test reads these two files only; R is needed to remake them, not to run the
test::

    python benchmarks/make_flexmix_golden.py
"""

import argparse
import datetime
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from gmoe.datasets import make_moe_regression

ROOT = Path(__file__).resolve().parents[1]
R_SCRIPT = ROOT / "benchmarks" / "flexmix_fit.R"
DATA_DIR = ROOT / "tests" / "data"


def write_csv(path, X, y):
    """Write ``X`` (n, d) and ``y`` (n,) as a CSV with columns x1..xd, y."""
    header = ",".join([f"x{j + 1}" for j in range(X.shape[1])] + ["y"])
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=header,
               comments="", fmt="%.17g")


def run_flexmix(data_path, k, nrep, seed, tol, iter_max):
    """Run ``flexmix_fit.R`` with random starts; return its JSON as a dict."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        raise SystemExit("Rscript was not found; install R and the flexmix package.")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "flexmix.json"
        subprocess.run(
            [rscript, str(R_SCRIPT), "--data", str(data_path), "--k", str(k),
             "--nrep", str(nrep), "--seed", str(seed), "--tol", repr(tol),
             "--iter-max", str(iter_max), "--out", str(out)],
            check=True,
        )
        return json.loads(out.read_text())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-samples", type=int, default=400)
    parser.add_argument("--random-state", type=int, default=2023,
                        help="seed of the data draw")
    parser.add_argument("--nrep", type=int, default=10,
                        help="number of random flexmix starts (stepFlexmix)")
    parser.add_argument("--r-seed", type=int, default=1, help="R's set.seed")
    parser.add_argument("--tol", type=float, default=1e-10,
                        help="flexmix tolerance (relative change of logLik)")
    parser.add_argument("--iter-max", type=int, default=5000)
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)

    X, y = make_moe_regression(args.n_samples, random_state=args.random_state)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = args.out_dir / "flexmix_golden.csv"
    write_csv(csv_path, X, y)

    result = run_flexmix(csv_path, 2, args.nrep, args.r_seed, args.tol, args.iter_max)
    if result["k_final"] != 2 or not result["converged"]:
        raise SystemExit(f"flexmix did not give a converged 2-expert fit: {result}")
    golden = {
        "description": (
            "R flexmix fit of tests/data/flexmix_golden.csv: flexmix(y ~ x1, k = 2, "
            "concomitant = FLXPmultinom(~ x1)), best of nrep random starts "
            "(stepFlexmix), minprior = 0. Parameters in gmoe's conventions "
            "(variances; gate with the last expert as reference). flexmix's "
            "variance is (weighted RSS / weight) * n / (n - 2), so its loglik sits "
            "slightly below the maximum; loglik_ml_variance uses the variances "
            "times (n - 2) / n."
        ),
        "data": {
            "file": csv_path.name,
            "truth": "gmoe.datasets.N23_TRUTH",
            "n_samples": args.n_samples,
            "design": "uniform",
            "random_state": args.random_state,
            "generator": "gmoe.datasets.make_moe_regression",
        },
        "date": datetime.date.today().isoformat(),
        "command": " ".join(
            ["python benchmarks/make_flexmix_golden.py",
             *(sys.argv[1:] if argv is None else argv)]
        ),
        **result,
    }
    json_path = args.out_dir / "flexmix_golden.json"
    json_path.write_text(json.dumps(golden, indent=2) + "\n")
    print(f"wrote {csv_path} and {json_path}: flexmix logLik {result['loglik']:.10f} "
          f"after {result['iterations']} iterations")


if __name__ == "__main__":
    main()
