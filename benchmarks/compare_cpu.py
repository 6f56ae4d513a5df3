"""The same fits on this processor's code and on numba's generic code.

Runs the default fit (``GaussianMoERegressor(k, random_state=0)``) of every case
of the real-data panel (``tests/data/panel``) and of three synthetic data sets in
two processes, one with the host's code and one with ``NUMBA_CPU_NAME=generic``
(its own kernel cache), and compares the parameters expert by expert (no
relabelling: the order of the experts must agree) and the log-likelihoods.

    python benchmarks/compare_cpu.py
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def dump(path):
    """Fit every case and write the parameters to ``path`` (JSON)."""
    import warnings

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import TRUTH_3X2
    from test_panel import CASES, load

    from gmoe import GaussianMoERegressor
    from gmoe.datasets import PARAM_NAMES, make_moe_regression

    cases = [(case["case"], *load(case), case["k"]) for case in CASES]
    X, y = make_moe_regression(5000, random_state=1)
    cases += [(f"n23_k{k}", X, y, k) for k in (2, 3, 4)]
    X, y = make_moe_regression(4000, TRUTH_3X2, low=-2, high=2, random_state=2)
    cases += [("3x2_k3", X, y, 3)]
    out = {}
    for name, X, y, k in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = GaussianMoERegressor(k, random_state=0).fit(X, y)
        out[name] = {"log_likelihood": model.log_likelihood_,
                     "converged": bool(model.converged_),
                     **{p: getattr(model, p + "_").tolist() for p in PARAM_NAMES}}
    Path(path).write_text(json.dumps(out))


def main():
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for label, env in (("host", {}),
                           ("generic", {"NUMBA_CPU_NAME": "generic",
                                        "NUMBA_CACHE_DIR": f"{folder}/cache"})):
            paths[label] = f"{folder}/{label}.json"
            subprocess.run([sys.executable, __file__, "--dump", paths[label]],
                           env={**os.environ, **env}, check=True)
        host, generic = (json.loads(Path(paths[k]).read_text())
                         for k in ("host", "generic"))
    print(f"{'case':14s} {'d loglik':>10s} {'max rel d param':>16s}  converged")
    worst = 0.0
    for name, a in host.items():
        b = generic[name]
        rel = max(float(np.max(np.abs(np.subtract(a[p], b[p]))
                               / np.maximum(1.0, np.abs(a[p]))))
                  for p in a if p not in ("log_likelihood", "converged"))
        worst = max(worst, rel)
        print(f"{name:14s} {a['log_likelihood'] - b['log_likelihood']:+10.1e} "
              f"{rel:16.1e}  {a['converged']}, {b['converged']}")
    print(f"largest relative difference of a parameter: {worst:.1e} "
          f"over {len(host)} fits")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--dump":
        dump(sys.argv[2])
    else:
        main()
