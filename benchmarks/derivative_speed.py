#!/usr/bin/env python
"""ricci's derivatives against JAX's, as ratios measured in one run (issue 10's targets).

Each case times one call of ricci and of JAX (jit-compiled, float64, data passed as arguments) after checking
that both compute the same numbers; the ratio is JAX's time / ricci's time (above 1: ricci is faster).

    case                                   ricci                                  JAX
    logistic Hessian-vector product        Objective.hessp(x, v), many v at one   jvp(grad f)(w; v), the
      m=5000 n=1000 (no intercept)         x (a CG loop): the point's sigmoid     standard hvp
                                           kept, two products with X per call
    factorization Hessian-vector product   Objective.hessp on [U, V]              jvp(grad f)
      ||T - U V'||^2, 1000 x 800, r=10
    logistic third derivative m=500 n=60   rs.compile(rs.derivative(f, w, 3))    jacfwd(jacfwd(jacrev f))
    softmax Hessian m=1000 n=10 k=10       rs.compile of the Hessian blocks       jax.hessian (peers.py)
    MLP Jacobian 8-16-1 tanh, m=500        LeastSquares(O - Y, [W1, b1, W2, b2])  jacfwd and jacrev of the
                                           .jac                                   residual (the faster)
    Newton on softmax m=1000 n=10 k=10     minimize(obj, method="newton")         the same Newton with
                                                                                  JAX's f, g and Hessian

Also reported, not targeted: the logistic Hessian-vector product at a new point every call (a compiled
rs.hvp) and the same with JAX's jax.linearize reused at one point.

Timing follows hessian_speed.py: two warm-up calls (JAX traces and compiles in the first), then samples of
--min-time seconds each, all methods of a case in interleaved rounds, the median over --repeat samples.
--clock process times with time.process_time (CPU time of this process: steadier than wall time on a
shared machine; both libraries run one thread). Threads: one per library (OpenBLAS through threadpoolctl,
XLA_FLAGS=--xla_cpu_multi_thread_eigen=false), as hessian_speed.py and solvers.py.

    python benchmarks/derivative_speed.py            # full sizes: writes results/derivative_speed-<date>.md/.json
    python benchmarks/derivative_speed.py --quick    # small sizes, seconds
"""

from __future__ import annotations

import os

# One thread for the native libraries from their start (before NumPy loads OpenBLAS): set at run time through
# threadpoolctl, OpenBLAS keeps its thread server, whose hand-offs cost small matrix products measurably.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse
import datetime
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import ricci.symbolic as rs
from _harness import configure_threads, limit_native_threads, machine
from hessian_speed import agrees, plan_samples, take_samples
from peers import import_jax, jax_objective, logistic_loss
from ricci import problems
from ricci.problems import logistic_loss_expression
from ricci.solvers import minimize

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
SEED = 2018


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    target: float | None          # JAX time / ricci time at least this (None: reported only)
    build: Callable               # (quick, jax) -> Prepared


@dataclass
class Prepared:
    """The calls of one case: ricci's and JAX's (no arguments), and values to compare (computed once)."""

    ricci: Callable
    jax: Callable
    ricci_value: object
    jax_value: object
    note: str = ""


@dataclass
class Result:
    case: Case
    seconds: dict = field(default_factory=dict)
    samples: dict = field(default_factory=dict)
    max_abs_err: float = 0.0
    note: str = ""

    @property
    def ratio(self):
        t = self.seconds
        return t["jax"] / t["ricci"] if t.get("jax") and t.get("ricci") else None


# ------------------------------------------------------------------------------------------------------------
# Cases


def _logistic_data(m, n, rng):
    X = rng.standard_normal((m, n))
    return X, rng.choice([-1.0, 1.0], size=m), rng.standard_normal(n) / np.sqrt(n)


def _jax_logistic(jax):
    ops = type("ops", (), {"sum": staticmethod(jax.numpy.sum), "softplus": staticmethod(jax.nn.softplus)})
    return lambda w, X, y, lam: logistic_loss(w, X, y, lam, ops=ops)


def logistic_hvp(quick, jax, *, fresh=False):
    m, n = (1000, 200) if quick else (5000, 1000)
    rng = np.random.default_rng(SEED)
    X, y, w = _logistic_data(m, n, rng)
    v = rng.standard_normal(n)
    f, (ws,) = logistic_loss_expression(intercept=False)
    jf = _jax_logistic(jax)
    jnp = jax.numpy
    args = (jnp.asarray(X), jnp.asarray(y), 1e-3)
    if fresh:  # a new point each call: the compiled product, and JAX's linearize reused at one point
        fn = rs.compile(rs.hvp(f, ws, rs.Vector("v", "n")), sizes={"m": m, "n": n})
        lin = jax.linearize(jax.grad(lambda w: jf(w, *args)), jnp.asarray(w))[1]
        lin = jax.jit(lin)
        return Prepared(lambda: fn(X=X, y=y, w=w, v=v, lam=1e-3), lambda: lin(jnp.asarray(v)).block_until_ready(),
                        fn(X=X, y=y, w=w, v=v, lam=1e-3), np.asarray(lin(jnp.asarray(v))),
                        "ricci: rs.compile(rs.hvp) from scratch each call; JAX: jax.linearize at w, reused")
    obj = rs.Objective(f, ws, dict(X=X, y=y, lam=1e-3))
    obj.fun_and_jac(w)  # a solver asks f and g at x before its products there
    hvp = jax.jit(lambda w, v, X, y, lam: jax.jvp(lambda z: jax.grad(jf)(z, X, y, lam), (w,), (v,))[1])
    jw, jv = jnp.asarray(w), jnp.asarray(v)
    return Prepared(lambda: obj.hessp(w, v), lambda: hvp(jw, jv, *args).block_until_ready(),
                    obj.hessp(w, v), np.asarray(hvp(jw, jv, *args)))


def factorization_hvp(quick, jax):
    m, n, k = (200, 160, 5) if quick else (1000, 800, 10)
    rng = np.random.default_rng(SEED)
    T = rng.standard_normal((m, n))
    Ts, U, V = rs.Matrix("T", "m", "n"), rs.Matrix("U", "m", "k"), rs.Matrix("V", "n", "k")
    obj = rs.Objective(rs.norm2(Ts - U @ V.T) ** 2, [U, V], {"T": T}, sizes={"k": k})
    x = rng.standard_normal(obj.size) / np.sqrt(k)
    p = rng.standard_normal(obj.size)
    obj.fun_and_jac(x)
    jnp = jax.numpy

    def jf(x, T):
        R = T - x[:m * k].reshape(m, k) @ x[m * k:].reshape(n, k).T
        return jnp.sum(R * R)

    hvp = jax.jit(lambda x, p, T: jax.jvp(lambda z: jax.grad(jf)(z, T), (x,), (p,))[1])
    jx, jp, jT = jnp.asarray(x), jnp.asarray(p), jnp.asarray(T)
    return Prepared(lambda: obj.hessp(x, p), lambda: hvp(jx, jp, jT).block_until_ready(),
                    obj.hessp(x, p), np.asarray(hvp(jx, jp, jT)))


def logistic_third(quick, jax):
    m, n = (200, 20) if quick else (500, 60)
    rng = np.random.default_rng(SEED)
    X, y, w = _logistic_data(m, n, rng)
    f, (ws,) = logistic_loss_expression(intercept=False)
    fn = rs.compile(rs.derivative(f, ws, 3), sizes={"m": m, "n": n})
    jnp = jax.numpy
    third = jax.jit(jax.jacfwd(jax.jacfwd(jax.jacrev(_jax_logistic(jax)))))
    args = (jnp.asarray(w), jnp.asarray(X), jnp.asarray(y), 1e-3)
    return Prepared(lambda: fn(X=X, y=y, w=w), lambda: third(*args).block_until_ready(),
                    fn(X=X, y=y, w=w), np.asarray(third(*args)))


def _softmax_problem(quick):
    m, n = (300, 5) if quick else (1000, 10)
    return problems.get("softmax-regression", m=m, n=n, classes=10, cond=10.0)


def softmax_hessian(quick, jax):
    p = _softmax_problem(quick)
    obj = p.objective
    fns = jax_objective(p, "softmax", jax)
    x = np.array(p.x0) + 0.1 * np.random.default_rng(SEED).standard_normal(p.n)
    blocks = [b for row in obj.hessian_blocks for b in row]
    fn = rs.compile(blocks, sizes=dict(obj.sizes))
    values = obj._values(x)
    kwargs = {v.name: values[v.name] for v in fn.variables}
    return Prepared(lambda: fn(**kwargs), lambda: fns[2](x), obj.hess(x), fns[2](x),
                    "ricci: the compiled Hessian blocks; JAX: jit(hessian) on the packed vector")


def mlp_jacobian(quick, jax):
    m, n, h = (64, 4, 8) if quick else (500, 8, 16)
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((m, n))
    Y = np.tanh(X @ rng.standard_normal((n, 1))) + 0.1 * rng.standard_normal((m, 1))
    Xs, Ys = rs.Matrix("X", "m", "n"), rs.Matrix("Y", "m", "k")
    W1, b1, W2, b2 = rs.Matrix("W1", "n", "h"), rs.Vector("b1", "h"), rs.Matrix("W2", "h", "k"), rs.Vector("b2", "k")
    hidden = rs.tanh(Xs @ W1 + rs.outer(rs.ones("m"), b1))
    residual = hidden @ W2 + rs.outer(rs.ones("m"), b2) - Ys
    ls = rs.LeastSquares(residual, [W1, b1, W2, b2], {"X": X, "Y": Y}, sizes={"h": h})
    x = rng.standard_normal(ls.size) / np.sqrt(n)
    jnp = jax.numpy
    shapes = [(n, h), (h,), (h, 1), (1,)]
    cuts = np.cumsum([int(np.prod(s)) for s in shapes])[:-1]

    def r(x, X, Y):
        W1_, b1_, W2_, b2_ = (part.reshape(s) for part, s in zip(jnp.split(x, cuts), shapes))
        return (jnp.tanh(X @ W1_ + b1_) @ W2_ + b2_ - Y).reshape(-1)

    jx, jX, jY = jnp.asarray(x), jnp.asarray(X), jnp.asarray(Y)
    fwd, rev = jax.jit(jax.jacfwd(r)), jax.jit(jax.jacrev(r))
    best = min((fwd, rev), key=lambda J: _once(lambda: J(jx, jX, jY).block_until_ready()))

    points = [x, x + 1e-3]

    def fresh_jac():  # two points in turn: every call is a new point for ricci's one-point cache
        points.reverse()
        return ls.jac(points[0])

    return Prepared(fresh_jac, lambda: best(jx, jX, jY).block_until_ready(), ls.jac(x), np.asarray(best(jx, jX, jY)),
                    f"JAX: {'jacfwd' if best is fwd else 'jacrev'} (the faster of the two)")


def _once(call, repeat=5):
    call()
    start = time.perf_counter()
    for _ in range(repeat):
        call()
    return (time.perf_counter() - start) / repeat


def softmax_newton(quick, jax):
    p = _softmax_problem(quick)
    obj = p.objective
    fns = jax_objective(p, "softmax", jax)
    x0 = np.array(p.x0)
    gtol = 1e-8 * max(1.0, float(np.max(np.abs(obj.jac(x0)))))
    options = {"gtol": gtol, "maxiter": 100}

    def ricci_newton():
        return minimize(obj.rebind(), x0, method="newton", options=options)  # rebind(): a fresh point cache

    def jax_newton():
        return minimize(fns[0], x0, method="newton", jac=fns[1], hess=fns[2], options=options)

    a, b = ricci_newton(), jax_newton()
    note = (f"iterations: ricci {a.nit}, JAX {b.nit}; both success: {bool(a.success and b.success)}; "
            "compared: the final f")
    return Prepared(ricci_newton, jax_newton, np.array(a.fun), np.array(b.fun), note)


CASES = (
    Case("logistic_hvp", "logistic Hessian-vector product, m=5000 n=1000 (at one x)", 2.0, logistic_hvp),
    Case("factorization_hvp", "factorization Hessian-vector product, 1000 x 800, r=10", 1.0, factorization_hvp),
    Case("logistic_third", "logistic third derivative, m=500 n=60", 3.0, logistic_third),
    Case("softmax_hessian", "softmax Hessian, m=1000 n=10 k=10", 5.0, softmax_hessian),
    Case("mlp_jacobian", "MLP Jacobian, 8-16-1 tanh, m=500", 100.0, mlp_jacobian),
    Case("softmax_newton", "Newton on softmax regression, m=1000 n=10 k=10", 1.0, softmax_newton),
    Case("logistic_hvp_fresh", "logistic Hessian-vector product, m=5000 n=1000 (a new x each call)", None,
         lambda quick, jax: logistic_hvp(quick, jax, fresh=True)),
)


# ------------------------------------------------------------------------------------------------------------
# Measurement


def run_case(case: Case, jax, args) -> Result:
    print(f"  {case.label}: build and check", file=sys.stderr, flush=True)
    prepared = case.build(args.quick, jax)
    result = Result(case, note=prepared.note)
    ok, err = agrees(np.asarray(prepared.ricci_value), np.asarray(prepared.jax_value))
    result.max_abs_err = err
    if not ok:
        result.note = (result.note + "; " if result.note else "") + "ricci and JAX disagree: not timed"
        return result
    plans = {}
    for key, call in (("ricci", prepared.ricci), ("jax", prepared.jax)):
        start = time.perf_counter()
        call()
        plans[key] = plan_samples(call, time.perf_counter() - start, repeat=args.repeat, min_time=args.min_time,
                                  budget=args.budget)
    print(f"  {case.label}: timing", file=sys.stderr, flush=True)
    take_samples(plans, time.process_time if args.clock == "process" else time.perf_counter)
    for key, plan in plans.items():
        result.seconds[key] = statistics.median(plan.times)
        result.samples[key] = plan.times
    return result


# ------------------------------------------------------------------------------------------------------------
# Report


def _ms(seconds) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.3g}"


def markdown(results, env, args) -> str:
    v = env["versions"]
    lines = [
        f"# Derivatives against JAX, {datetime.date.today().isoformat()}",
        "",
        f"- machine: {env['platform']}, {env['cpu']}, {env['cpu_count']} CPUs",
        f"- threads: {env['threads']} per library ({env['thread_pools']}; XLA_FLAGS='{env['xla_flags']}')",
        f"- python {env['python']}; ricci {v['ricci']} (commit {env['ricci_commit']}), numpy {v['numpy']}, "
        f"jax {v['jax']}, jaxlib {v['jaxlib']}",
        f"- {'quick' if args.quick else 'full'} sizes; median of {args.repeat} samples of >= {args.min_time * 1e3:g} "
        f"ms after warm-up, interleaved; clock: {args.clock} time; float64; each pair checked equal first",
        "",
        "| case | ricci (ms) | JAX (ms) | JAX / ricci | target | met |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        ratio = r.ratio
        target = r.case.target
        met = "-" if target is None or ratio is None or args.quick else ("yes" if ratio >= target else "**no**")
        lines.append(f"| {r.case.label} | {_ms(r.seconds.get('ricci'))} | {_ms(r.seconds.get('jax'))} | "
                     f"{'-' if ratio is None else f'{ratio:.2f}'} | {'-' if target is None else f'>= {target:g}'} | "
                     f"{met} |")
    notes = [f"{r.case.label}: {r.note}" for r in results if r.note]
    if args.quick:
        notes.append("the targets apply to the full sizes; --quick does not judge them")
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes and few samples")
    p.add_argument("--repeat", type=int, default=None, help="samples per method and case (default 9, quick 3)")
    p.add_argument("--min-time", type=float, default=None, help="seconds a sample lasts at least (default 0.1)")
    p.add_argument("--budget", type=float, default=20.0, help="seconds of samples per method and case (default 20)")
    p.add_argument("--clock", choices=("wall", "process"), default="wall", help="wall (default) or process time")
    p.add_argument("--only", nargs="+", choices=[c.key for c in CASES], default=None, help="run only these cases")
    p.add_argument("--out-dir", type=Path, default=RESULTS_DIR, help="folder for the results (default %(default)s)")
    args = p.parse_args(argv)
    args.repeat = args.repeat or (3 if args.quick else 9)
    args.min_time = args.min_time or (0.02 if args.quick else 0.1)
    if args.repeat < 1:
        p.error(f"--repeat must be at least 1, got {args.repeat}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    configure_threads(1)
    try:
        jax = import_jax()
    except ImportError as exc:
        print(f"derivative_speed: JAX is the reference here and is not installed ({exc}); pip install jax",
              file=sys.stderr)
        return 2
    _limiter, thread_note = limit_native_threads(1)  # the limit holds while the limiter lives
    env = machine(1, thread_note, ("ricci", "numpy", "jax", "jaxlib"))
    cases = [c for c in CASES if args.only is None or c.key in args.only]
    results = [run_case(c, jax, args) for c in cases]
    text = markdown(results, env, args)
    print(text)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"derivative_speed-{datetime.date.today().isoformat()}" + ("-quick" if args.quick else "")
    (args.out_dir / f"{stem}.md").write_text(text)
    record = {"environment": env, "settings": {k: str(v) for k, v in vars(args).items()},
              "cases": [{"case": r.case.label, "key": r.case.key, "target": r.case.target, "seconds": r.seconds,
                         "samples": r.samples, "ratio": r.ratio, "max_abs_err": r.max_abs_err, "note": r.note}
                        for r in results]}
    (args.out_dir / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out_dir / stem}.md and .json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
