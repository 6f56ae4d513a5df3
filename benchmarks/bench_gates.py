"""Speed of the E-step with the dense softmax gate and the top-K sparse gate.

One fused E-step pass (:func:`gmoe.kernels._em.e_step`) per call; the best of
``--repeat`` timings per gate, reported per sample and expert, and the ratio
top-K / dense (the target: at most 2).

    python benchmarks/bench_gates.py --n 100000 --k 8 --top-k 2 --d 2
"""

import argparse
import time

import numpy as np

from gmoe.kernels._em import e_step


def time_e_step(Xt, y, w, gate, coef, var, top_k, repeat):
    n, k = Xt.shape[0], coef.shape[0]
    resp_prev = np.full((n, k), 1.0 / k)
    resp = np.empty((n, k))
    e_step(Xt, y, w, gate, coef, var, resp_prev, resp, top_k=top_k)  # compile
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        e_step(Xt, y, w, gate, coef, var, resp_prev, resp, top_k=top_k)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--top-k", type=int, default=2)
    parser.add_argument("--d", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1,
                        help="numba threads (1: one core, the fair comparison)")
    args = parser.parse_args(argv)
    import numba

    numba.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    n, k, d = args.n, args.k, args.d
    Xt = np.column_stack([np.ones(n), rng.normal(size=(n, d))])
    y = rng.normal(size=n)
    w = np.ones(n)
    gate = rng.normal(size=(k, d + 1))
    coef = rng.normal(size=(k, d + 1))
    var = rng.uniform(0.5, 2.0, size=k)
    dense = time_e_step(Xt, y, w, gate, coef, var, None, args.repeat)
    sparse = time_e_step(Xt, y, w, gate, coef, var, args.top_k, args.repeat)
    scale = 1e9 / (n * k)
    print(f"n={n} k={k} K={args.top_k} d={d} threads={args.threads} "
          f"(best of {args.repeat})")
    print(f"dense softmax E-step: {dense * 1e3:8.2f} ms  "
          f"({dense * scale:.2f} ns per sample and expert)")
    print(f"top-{args.top_k} E-step:        {sparse * 1e3:8.2f} ms  "
          f"({sparse * scale:.2f} ns per sample and expert)")
    print(f"ratio top-K / dense: {sparse / dense:.2f}")


if __name__ == "__main__":
    main()
