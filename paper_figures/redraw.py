"""Redraw every figure from the saved results: ``python -m paper_figures.redraw``.

Also writes ``results/summary[_quick].md``: the slope of every curve with its 95 %
bootstrap interval over replications, the numbers the README quotes.
"""

import argparse
import importlib
import json

import numpy as np

from paper_figures import _common

SCRIPTS = ["fig1_exact_fitted", "fig2_over_fitted", "fig3_per_parameter",
           "fig4_initialisation", "fig5_voronoi_cells", "fig6_regimes",
           "fig7_consistency", "fig8_gaussian_gate", "fig9_gates", "fig10_topk",
           "fig11_balance", "fig12_shared"]


def summary_lines(name, found):
    lines = []
    for label, value in found.items():
        rate, theory = value if isinstance(value, tuple) else (value, -0.5)
        low, high = rate.ci
        theory_text = " | " if theory is None else f" | {theory:.3f}"
        lines.append(f"| {name} | {label} | {rate.slope:.3f} | [{low:.3f}, {high:.3f}]"
                     f" | {rate.sample_sizes[0]}-{rate.sample_sizes[-1]}"
                     f" ({len(rate.sample_sizes)} sizes){theory_text} |")
    return lines


def gate_size(params_text):
    """Largest absolute gate parameter of a fit (canonical form)."""
    params = json.loads(params_text)
    return max(np.max(np.abs(params["gate_intercept"])),
               np.max(np.abs(params["gate_coef"])))


def diagnostic_lines(quick):
    """Per study and k: convergence, iterations, mean against median D2, gate sizes."""
    lines = ["| study | k | n | fits | converged | median iterations | mean D2 | "
             "median D2 | fits with a gate parameter > 100 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in _common.STUDIES:
        results = _common.load(name, quick)
        results = results.assign(gate=[gate_size(t) for t in results["params"]])
        for (k, n), group in results.groupby(["k", "n"]):
            if n not in (results["n"].min(), results["n"].max()):
                continue
            lines.append(
                f"| {name} | {k} | {n} | {len(group)} | "
                f"{group['converged'].mean():.0%} | "
                f"{group['n_iter'].median():.0f} | {group['D2'].mean():.3g} | "
                f"{group['D2'].median():.3g} | {(group['gate'] > 100).sum()} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="the quick preset's results")
    args = parser.parse_args(argv)
    lines = ["| figure | curve | slope | 95% CI | grid | theory |",
             "|---|---|---|---|---|---|"]
    for script in SCRIPTS:
        module = importlib.import_module(f"paper_figures.{script}")
        path, found = module.main(args.quick)
        print(path)
        lines += summary_lines(script, found)
    lines += ["", "Diagnostics at the smallest and largest n of each grid:", ""]
    lines += diagnostic_lines(args.quick)
    out = _common.RESULTS / ("summary_quick.md" if args.quick else "summary.md")
    out.write_text("\n".join(lines) + "\n")
    print(out)


if __name__ == "__main__":
    main()
