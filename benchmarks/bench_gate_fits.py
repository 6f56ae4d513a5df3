"""Default fit of every gate, timed against the softmax gate in the same run.

The [N23] data (``make_moe_regression(n, random_state=1)``, one covariate), the
default ``GaussianMoERegressor(k, gate=..., random_state=0)``; per gate the
wall time, its ratio to the softmax gate's, the CPU time of the process (all
threads) and its ratio, ``converged_`` and the log-likelihood.  The target of
the gate plug-ins: every gate at most 2x the softmax gate.

On a shared machine the times are noisy: ``--repeat R`` fits every gate R times
(in turn, gate after gate) and keeps each gate's shortest times.  ``--phases``
prints, per gate, where the time goes: the starts (the gate fit of each start),
the screening EM runs, the EM and Newton runs of the refined starts, the rest
(the initialisers, the final E-step, the estimator), with the number of passes
over the data of each kind.

    python benchmarks/bench_gate_fits.py --n 20000 --k 4
    python benchmarks/bench_gate_fits.py --n 20000 --k 4 --repeat 3 \\
        --only sigmoid cosine laplace constant --phases
"""

import argparse
import collections
import functools
import time
import warnings

from gmoe import GaussianMoERegressor
from gmoe.datasets import make_moe_regression

#: (label, estimator options) of every gate measured.
GATES = [
    ("softmax", {}),
    ("top_k=2", {"top_k": 2}),
    ("gaussian, conditional", {"gate": "gaussian"}),
    ("gaussian, joint", {"gate": "gaussian", "likelihood": "joint"}),
    ("constant", {"gate": "constant"}),
    ("sigmoid", {"gate": "sigmoid"}),
    ("cosine", {"gate": "cosine"}),
    ("laplace", {"gate": "laplace"}),
]


class Phases:
    """Wall time and calls per phase of a fit, from wrappers around the
    functions of the fit (installed by :meth:`install`, for ``--phases``)."""

    #: (module, function, phase): the phases, outermost first.
    PHASES = [("gmoe.engine._search", "params_from_responsibilities", "starts"),
              ("gmoe.engine._search", "screen", "screening"),
              ("gmoe.engine._solvers", "run_em", "EM"),
              ("gmoe.engine._solvers", "run_newton", "Newton")]
    #: (class, method): the passes over the data counted in each phase.
    PASSES = ["e_step", "gate_stats", "derivatives", "objective"]

    def __init__(self):
        self.time = collections.defaultdict(float)
        self.calls = collections.Counter()
        self.stack = []

    def _wrap(self, owner, name, label):
        original = getattr(owner, name)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            if label in self.PASSES and not self.stack:
                return original(*args, **kwargs)
            outer = label not in self.PASSES
            if outer:
                self.stack.append(label)
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                if outer:
                    self.stack.pop()
                    if not self.stack:
                        self.time[label] += time.perf_counter() - start
                else:
                    self.calls[(self.stack[0], label)] += 1

        setattr(owner, name, wrapper)

    def install(self):
        import importlib

        from gmoe.engine._gated_model import GatedGaussianMoE
        from gmoe.engine._model import SoftmaxGaussianMoE

        for module, name, label in self.PHASES:
            self._wrap(importlib.import_module(module), name, label)
        for cls in (GatedGaussianMoE, SoftmaxGaussianMoE):
            for name in self.PASSES:
                self._wrap(cls, name, name)
        return self

    def reset(self):
        self.time.clear()
        self.calls.clear()

    def report(self, total):
        parts = []
        for _, _, label in self.PHASES:
            passes = ", ".join(f"{self.calls[(label, name)]} {name}"
                               for name in self.PASSES if self.calls[(label, name)])
            parts.append(f"{label} {self.time[label]:.2f}s ({passes or 'no pass'})")
        rest = total - sum(self.time.values())
        return "    " + "; ".join(parts) + f"; rest {rest:.2f}s"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--only", nargs="*", help="labels of the gates to time")
    parser.add_argument("--repeat", type=int, default=1,
                        help="fits per gate; the shortest times are kept")
    parser.add_argument("--phases", action="store_true",
                        help="time per phase of each fit (the last repeat)")
    args = parser.parse_args(argv)
    X, y = make_moe_regression(args.n, random_state=1)
    gates = [(label, options) for label, options in GATES
             if not args.only or label in args.only or label == "softmax"]
    phases = Phases().install() if args.phases else None
    # compile (or load from numba's disk cache) every gate's kernels first
    for _, options in gates:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            GaussianMoERegressor(2, n_init=2, random_state=0, **options).fit(
                X[:500], y[:500])
    wall = collections.defaultdict(lambda: float("inf"))
    cpu = collections.defaultdict(lambda: float("inf"))
    fits, profiles = {}, {}
    for _ in range(args.repeat):
        for label, options in gates:
            if phases is not None:
                phases.reset()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start, start_cpu = time.perf_counter(), time.process_time()
                model = GaussianMoERegressor(args.k, random_state=0, **options).fit(
                    X, y)
                seconds = time.perf_counter() - start
                cpu_seconds = time.process_time() - start_cpu
            wall[label] = min(wall[label], seconds)
            cpu[label] = min(cpu[label], cpu_seconds)
            fits[label] = model
            if phases is not None:
                profiles[label] = phases.report(seconds)
    print(f"n = {args.n}, k = {args.k}, shortest of {args.repeat} fit(s) per gate")
    print(f"{'gate':24s} {'time':>8s} {'ratio':>6s} {'cpu':>8s} {'ratio':>6s}  "
          "converged  log-likelihood")
    for label, _ in gates:
        model = fits[label]
        print(f"{label:24s} {wall[label]:7.2f}s {wall[label] / wall['softmax']:6.2f} "
              f"{cpu[label]:7.2f}s {cpu[label] / cpu['softmax']:6.2f}  "
              f"{str(model.converged_):9s}  {model.log_likelihood_:.3f}", flush=True)
        if phases is not None:
            print(profiles[label])


if __name__ == "__main__":
    main()
