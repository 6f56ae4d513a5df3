"""Redraw every figure from the saved results: ``python -m paper_figures.redraw``.

Also writes ``results/summary[_quick].md``: the slope of every curve with its 95 %
bootstrap interval over replications, the numbers the README quotes.
"""

import argparse
import importlib

from paper_figures import _common

SCRIPTS = ["fig1_exact_fitted", "fig2_over_fitted", "fig3_per_parameter",
           "fig4_initialisation", "fig5_voronoi_cells"]


def summary_lines(name, found):
    lines = []
    for label, value in found.items():
        rate, theory = value if isinstance(value, tuple) else (value, -0.5)
        low, high = rate.ci
        theory_text = "" if theory is None else f" | {theory:.3f}"
        lines.append(f"| {name} | {label} | {rate.slope:.3f} | [{low:.3f}, {high:.3f}]"
                     f" | {rate.sample_sizes[0]}-{rate.sample_sizes[-1]}"
                     f" ({len(rate.sample_sizes)} sizes){theory_text} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick preset's results")
    args = parser.parse_args(argv)
    lines = ["| figure | curve | slope | 95% CI | grid | theory |", "|---|---|---|---|---|---|"]
    for script in SCRIPTS:
        module = importlib.import_module(f"paper_figures.{script}")
        path, found = module.main(args.quick)
        print(path)
        lines += summary_lines(script, found)
    out = _common.RESULTS / ("summary_quick.md" if args.quick else "summary.md")
    out.write_text("\n".join(lines) + "\n")
    print(out)


if __name__ == "__main__":
    main()
