"""Cold compile time of gmoe's kernels: what the first fit on a machine costs.

Each measurement runs in a fresh Python process with ``NUMBA_CACHE_DIR`` pointed
at an empty folder, so that nothing is loaded from a disk cache:

1. the first call of each kernel entry point (``e_step``, ``gate_stats`` and,
   when the module exists, ``loglik_hessian``) on small float64 C-contiguous
   arrays, which compiles it and its callees; then, per compiled function, the
   time numba spent in its compiler (inclusive of the callees it compiled) and
   in LLVM;
2. in another fresh process with another empty cache, the first
   ``GaussianMoERegressor(3).fit(X, y)`` on n = 2000 samples with d = 1, then the
   first with d = 3 (numba's compile time included, the import of gmoe not).

Examples::

    python benchmarks/bench_compile.py
    python benchmarks/bench_compile.py --source /path/to/other/checkout  # compare

``--source`` puts another checkout first on ``PYTHONPATH`` (for instance an older
version, to compare).  The machine's load matters: on a busy machine the compile
can take twice as long (the load average is printed with the results; the CPU
time of the process, printed too, depends less on it: the compiler runs on one
thread).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

KERNELS = textwrap.dedent("""
    import json, time
    import numpy as np
    import numba
    t0 = time.perf_counter()
    import gmoe.kernels._em as K
    try:
        import gmoe.kernels._hessian as H
    except ImportError:
        H = None
    imported = time.perf_counter() - t0
    n, k, p = 100, 3, 2
    rng = np.random.default_rng(0)
    Xt = np.column_stack([np.ones(n), rng.normal(size=n)])
    y, w = rng.normal(size=n), np.ones(n)
    gate, coef, var = np.zeros((k, p)), np.zeros((k, p)), np.ones(k)
    resp_prev, resp = np.full((n, k), 1 / k), np.empty((n, k))
    calls = [("e_step", lambda: K.e_step(Xt, y, w, gate, coef, var, resp_prev, resp)),
             ("gate_stats", lambda: K.gate_stats(Xt, w, resp_prev, gate))]
    if H is not None:
        calls.append(("loglik_hessian",
                      lambda: H.loglik_hessian(Xt, y, w, gate, coef, var)))
    first = {}
    for name, call in calls:
        t, c = time.perf_counter(), time.process_time()
        call()
        first[name] = (time.perf_counter() - t, time.process_time() - c)
    functions = []
    for mod in [K] + ([H] if H is not None else []):
        for name, f in vars(mod).items():
            if (isinstance(f, numba.core.dispatcher.Dispatcher)
                    and f.py_func.__module__ == mod.__name__):
                for cres in f.overloads.values():
                    timers = (cres.metadata or {}).get("timers", {})
                    functions.append((mod.__name__ + "." + name,
                                      timers.get("compiler_lock", float("nan")),
                                      timers.get("llvm_lock", float("nan"))))
    print(json.dumps({"import": imported, "first_call": first,
                      "functions": functions}))
""")

FIT = textwrap.dedent("""
    import json, time, warnings
    import numpy as np
    from gmoe import GaussianMoERegressor
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    out = {}
    for d in (1, 3):
        X = rng.normal(size=(2000, d))
        y = X.sum(axis=1) + rng.normal(size=2000)
        t, c = time.perf_counter(), time.process_time()
        GaussianMoERegressor(3, random_state=0).fit(X, y)
        out[f"d={d}"] = (time.perf_counter() - t, time.process_time() - c)
    print(json.dumps(out))
""")


def run_cold(code, source=None):
    """Run ``code`` in a fresh interpreter with an empty numba cache; its JSON."""
    env = dict(os.environ)
    if source:
        env["PYTHONPATH"] = os.pathsep.join(
            [source] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    with tempfile.TemporaryDirectory(prefix="gmoe-cold-cache-") as cache:
        env["NUMBA_CACHE_DIR"] = cache
        proc = subprocess.run([sys.executable, "-c", code], env=env,
                              capture_output=True, text=True, cwd=cache)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    if proc.stderr.strip():
        print(proc.stderr.strip(), file=sys.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def uptime():
    try:
        with open("/proc/loadavg") as f:
            return "load average " + " ".join(f.read().split()[:3])
    except OSError:
        return "load average unknown"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", help="a checkout to put first on PYTHONPATH")
    parser.add_argument("--no-fit", action="store_true", help="skip the cold fit")
    args = parser.parse_args(argv)

    print(f"Cold compile, fresh process, empty NUMBA_CACHE_DIR ({uptime()}, "
          f"{os.cpu_count()} cores)")
    kernels = run_cold(KERNELS, args.source)
    print(f"  import of the kernel modules: {kernels['import']:6.1f} s")
    for name, (wall, cpu) in kernels["first_call"].items():
        print(f"  first call of {name:16s} {wall:6.1f} s  (CPU {cpu:5.1f} s)")
    wall = sum(t[0] for t in kernels["first_call"].values())
    cpu = sum(t[1] for t in kernels["first_call"].values())
    print(f"  total of the first calls:     {wall:6.1f} s  (CPU {cpu:5.1f} s)")
    print("  per compiled function (compiler time including the callees it "
          "compiled; LLVM time):")
    for name, total, llvm in sorted(kernels["functions"], key=lambda r: -r[1]):
        print(f"    {name:40s} {total:6.1f} s  (LLVM {llvm:5.1f} s)")
    if not args.no_fit:
        fit = run_cold(FIT, args.source)
        print(f"First fits, fresh process, empty cache ({uptime()}):")
        for name, (wall, cpu) in fit.items():
            print(f"  GaussianMoERegressor(3).fit, n = 2000, {name}: {wall:6.1f} s  "
                  f"(CPU {cpu:5.1f} s)")


if __name__ == "__main__":
    main()
