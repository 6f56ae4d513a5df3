"""Record gmoe's default fit on the panel at a given git commit of gmoe.

Extracts ``gmoe/`` of COMMIT (``git archive``) into a temporary folder, imports it
from there in a subprocess, fits ``GaussianMoERegressor(k, random_state=0)`` and
the same with ``n_init=10`` on every case of ``tests/data/panel/best_known.json``
and stores the log-likelihoods under ``default_loglik_<label>``,
``default_ninit10_loglik_<label>`` (and ``default_converged_<label>``), with the
commit in ``meta["default_<label>_commit"]``.

Usage (repository root), after compute_best_known.py (which rewrites the file):
    python benchmarks/panel_reference/default_at_commit.py 45a0045 --label before
The summary table (summary.md) is rewritten too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BEST = ROOT / "tests" / "data" / "panel" / "best_known.json"

CHILD = r"""
import json, sys, warnings
import numpy as np, pandas as pd
from gmoe import GaussianMoERegressor as G
assert sys.argv[2] in __import__("gmoe").__file__, "gmoe imported from the wrong place"
out = {}
warnings.simplefilter("ignore")
for e in json.load(open(sys.argv[1]))["cases"]:
    d = pd.read_csv(sys.argv[3] + "/" + e["dataset"] + ".csv")
    X = d[e["features"]].to_numpy(float); y = d[e["target"]].to_numpy(float)
    m = G(e["k"], random_state=0).fit(X, y)
    m10 = G(e["k"], random_state=0, n_init=10).fit(X, y)
    out[e["case"]] = [float(m.log_likelihood_), bool(m.converged_),
                      float(m10.log_likelihood_)]
    print(e["case"], out[e["case"]], file=sys.stderr, flush=True)
print(json.dumps(out))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("commit")
    ap.add_argument("--label", default="before")
    args = ap.parse_args()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", args.commit],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit, "gmoe"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        env = {
            "PYTHONPATH": tmp,
            "NUMBA_CACHE_DIR": str(Path(tmp) / "numba_cache"),
            "PATH": "/usr/bin:/bin",
        }
        import os

        env = {**os.environ, **env}
        res = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(BEST),
                tmp,
                str(ROOT / "tests" / "data" / "panel"),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,
        )
        if res.returncode:
            sys.exit(res.stderr)
        values = json.loads(res.stdout.strip().splitlines()[-1])
    doc = json.loads(BEST.read_text())
    for e in doc["cases"]:
        ll, conv, ll10 = values[e["case"]]
        e[f"default_loglik_{args.label}"] = ll
        e[f"default_converged_{args.label}"] = conv
        e[f"default_ninit10_loglik_{args.label}"] = ll10
        print(
            f"{e['case']:13s} default={ll:.3f} n_init=10={ll10:.3f} "
            f"best_regular={e['best_regular_loglik']:.3f}"
        )
    doc["meta"][f"default_{args.label}_commit"] = commit
    BEST.write_text(json.dumps(doc, indent=1))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from compute_best_known import write_summary

    write_summary(
        doc["cases"], Path(__file__).resolve().parent / "summary.md", doc["meta"]
    )


if __name__ == "__main__":
    main()
