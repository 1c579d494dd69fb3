#!/usr/bin/env python
"""Time ricci's compiled Hessians against a hand-written NumPy formula, JAX and PyTorch in one run.

The problems are the three of Laue, Mitterreiter & Giesen, "Computing Higher Order Derivatives of Matrix and
Tensor Expressions" (NeurIPS 2018), Section 5:

    quadratic form        f(x) = x'Ax                                    H = A + A'
    logistic regression   f(w) = sum(softplus(-y .* (X w))) + lam/2 w'w  H = X' diag(s) X + lam I,
                                                                         s = sigmoid(t) sigmoid(-t), t = y .* (X w)
    matrix factorization  f(U) = ||T - U V'||_F^2                        H[i,j,k,l] = 2 delta_ik (V'V)_jl

Methods (each Hessian is checked against the hand-written one before it is timed):

    hand-written          the closed form above in NumPy: the practical limit
    ricci                 rs.compile(rs.hessian(f, x)), called with the variables by keyword
    JAX                   jax.jit(jax.hessian(f)) in float64, data passed as arguments (not baked in)
    torch.func            torch.func.hessian(f) (forward-over-reverse) in float64
    torch.autograd        torch.autograd.functional.hessian(f, x), default settings (one backward pass per
                          entry of x), and the same with vectorize=True (batched through vmap)

A time is the median over samples; a sample runs the call often enough to last --min-time seconds and
reports the time per call (time.perf_counter, garbage collection off during a sample, like timeit). Two
warm-up calls come first: the first one (which traces and JIT-compiles for JAX) also gives the Hessian for
the check. A method whose first call takes a second or more gets no second warm-up call, and every method
gets as many samples (up to --repeat) as fit in --budget seconds, at least one. The samples of all methods
of a case are taken in interleaved rounds, so that a change in the machine's load affects them alike.

ricci's build time (differentiate + simplify, then compile) is measured in a fresh Python process per case,
because ricci interns expressions: a second build in the same process finds its nodes already made. The
first build after `import ricci.symbolic` is what a user pays; the import is timed separately.

Threads: every library gets the same number of threads, --threads (default 1): OpenBLAS (NumPy and so ricci)
and torch's OpenMP through threadpoolctl, torch.set_num_threads, and for one thread XLA's CPU backend through
XLA_FLAGS=--xla_cpu_multi_thread_eigen=false (with more than one thread XLA keeps its default pool).

    python benchmarks/hessian_speed.py             # full sizes, writes benchmarks/results/hessian_speed-<date>.md/.json
    python benchmarks/hessian_speed.py --quick     # small sizes, a few seconds
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import ricci.symbolic as rs
from _harness import configure_threads, limit_native_threads, machine
from peers import import_jax, logistic_loss
from ricci.problems import logistic_loss_expression

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
SEED = 20180


# ------------------------------------------------------------------------------------------------------------
# Problems: the symbolic objective, data, the hand-written Hessian and the objective for autodiff, side by side.

def quadratic_form(x, A, *, ops):
    """f(x) = x'Ax."""
    return x @ A @ x


def quadratic_hessian(A, **_):
    """d2/dx2 x'Ax = A + A'."""
    return A + A.T


def quadratic_symbolic():
    A = rs.Matrix("A", "n", "n")
    x = rs.Vector("x", "n")
    return x @ A @ x, x


def quadratic_data(sizes, rng):
    n = sizes["n"]
    return {"A": rng.standard_normal((n, n)), "x": rng.standard_normal(n)}


def logistic_hessian(X, y, w, lam, **_):
    """H = X' diag(s) X + lam I with s_i = y_i^2 sigmoid(t_i) sigmoid(-t_i), t = y .* (X w); y_i^2 = 1 for labels +-1.

    sigmoid(t) sigmoid(-t) = e / (1 + e)^2 with e = exp(-|t|), which cannot overflow.
    """
    t = y * (X @ w)
    e = np.exp(-np.abs(t))
    s = e / (1 + e) ** 2
    H = X.T @ (s[:, None] * X)
    H[np.diag_indices_from(H)] += lam
    return H


def logistic_symbolic():
    """f(w) = sum_i softplus(-y_i x_i'w) + lam/2 w'w, as ricci.problems.logistic_regression builds it."""
    f, (w,) = logistic_loss_expression(intercept=False)
    return f, w


def logistic_data(sizes, rng):
    m, n = sizes["m"], sizes["n"]
    X = rng.standard_normal((m, n))
    return {
        "X": X,
        "y": rng.choice([-1.0, 1.0], size=m),
        "w": rng.standard_normal(n) / math.sqrt(n),  # margins of order one: s is neither 0 nor 1/4 everywhere
        "lam": 1e-3,
    }


def factorization_loss(U, T, V, *, ops):
    """f(U) = ||T - U V'||_F^2."""
    R = T - U @ V.T
    return ops.sum(R * R)


def factorization_hessian(T, V, **_):
    """H[i,j,k,l] = d2f / dU[i,j] dU[k,l] = 2 delta_ik (V'V)_jl, shape (m, k, m, k).

    The factor 2 scales the k x k matrix V'V rather than the (m, k, m, k) result.
    """
    return np.einsum("ik,jl->ijkl", np.eye(T.shape[0]), 2 * (V.T @ V))


def factorization_symbolic():
    T = rs.Matrix("T", "m", "n")
    U = rs.Matrix("U", "m", "k")
    V = rs.Matrix("V", "n", "k")
    return rs.norm2(T - U @ V.T) ** 2, U


def factorization_data(sizes, rng):
    m, n, k = sizes["m"], sizes["n"], sizes["k"]
    return {
        "T": rng.standard_normal((m, n)),
        "U": rng.standard_normal((m, k)),
        "V": rng.standard_normal((n, k)),
    }


@dataclass(frozen=True)
class Problem:
    """One objective f, written once symbolically and once for autodiff, with its Hessian by hand."""

    name: str
    formula: str
    wrt: str                                   # the variable the Hessian is taken with respect to
    data_args: tuple                           # the other arguments of `objective`, in order
    symbolic: Callable                         # () -> (f expression, variable)
    objective: Callable                        # (x, *data, ops=namespace with sum, softplus) -> scalar
    hand: Callable                             # (**data) -> Hessian as a NumPy array
    make_data: Callable                        # (sizes, rng) -> {name: array or float}


PROBLEMS = {
    p.name: p
    for p in (
        Problem("quadratic", "x'Ax", "x", ("A",), quadratic_symbolic, quadratic_form,
                quadratic_hessian, quadratic_data),
        Problem("logistic", "sum(softplus(-y.*(X*w))) + lam/2*w'w", "w", ("X", "y", "lam"), logistic_symbolic,
                logistic_loss, logistic_hessian, logistic_data),
        Problem("factorization", "||T - U*V'||_F^2 w.r.t. U", "U", ("T", "V"), factorization_symbolic,
                factorization_loss, factorization_hessian, factorization_data),
    )
}


@dataclass(frozen=True)
class Case:
    problem: str
    sizes: dict

    @property
    def label(self) -> str:
        s = self.sizes
        if self.problem == "quadratic":
            return f"quadratic n={s['n']}"
        if self.problem == "logistic":
            return f"logistic m={s['m']} n={s['n']}"
        return f"factorization {s['m']}x{s['n']} k={s['k']}"


def _cases(quadratic_n, logistic_m, logistic_n, factorization_m, factorization_k):
    """Two quadratic forms, two logistic regressions with m rows, one square factorization of rank k."""
    return (*(Case("quadratic", {"n": n}) for n in quadratic_n),
            *(Case("logistic", {"m": logistic_m, "n": n}) for n in logistic_n),
            Case("factorization", {"m": factorization_m, "n": factorization_m, "k": factorization_k}))


FULL_CASES = _cases((1000, 3000), 2000, (100, 1000), 100, 10)
QUICK_CASES = _cases((300, 1000), 500, (50, 200), 50, 5)

# Targets from the project's issue: (what, threshold, direction).
TARGET_RICCI_OVER_HAND = 1.25
TARGET_JAX_OVER_RICCI = {"quadratic": 20.0, "logistic": 2.0, "factorization": 20.0}
TARGET_BUILD_SECONDS = 1.0


# ------------------------------------------------------------------------------------------------------------
# Methods: each prepares, for one case and its data, a call without arguments that returns the Hessian.

def prepare_hand(problem: Problem, case: Case, data: dict, peers: dict):
    return lambda: problem.hand(**data)


def prepare_ricci(problem: Problem, case: Case, data: dict, peers: dict):
    f, x = problem.symbolic()
    fn = rs.compile(rs.hessian(f, x), sizes=case.sizes)
    kwargs = {v.name: data[v.name] for v in fn.variables}
    # A Hessian need not read every input (the factorization one reads only V), so a dimension that no
    # input fixes (m there) is passed by keyword; dimensions the inputs fix are left to the function.
    fixed = {str(d) for v in fn.variables for d in v.shape}
    kwargs.update({d: case.sizes[d] for d in getattr(fn, "dim_names", ()) if d not in fixed and d in case.sizes})
    return lambda: fn(**kwargs)


def prepare_jax(problem: Problem, case: Case, data: dict, peers: dict):
    jax, jnp = peers["jax"].jax, peers["jax"].jnp
    ops = SimpleNamespace(sum=jnp.sum, softplus=jax.nn.softplus)
    hessian = jax.jit(jax.hessian(partial(problem.objective, ops=ops)))
    args = [jnp.asarray(data[problem.wrt])] + [jnp.asarray(data[k]) for k in problem.data_args]
    return lambda: hessian(*args).block_until_ready()


def _torch_setup(problem: Problem, data: dict, peers: dict):
    torch = peers["torch"].torch
    # logaddexp(z, 0) is softplus without the linear cut-off at z > 20 of torch.nn.functional.softplus.
    ops = SimpleNamespace(sum=torch.sum, softplus=lambda z: torch.logaddexp(z, torch.zeros_like(z)))
    as_tensor = partial(torch.as_tensor, dtype=torch.float64)
    x = as_tensor(data[problem.wrt])
    rest = [as_tensor(data[k]) for k in problem.data_args]
    return torch, partial(problem.objective, ops=ops), x, rest


def prepare_torch_func(problem: Problem, case: Case, data: dict, peers: dict):
    torch, f, x, rest = _torch_setup(problem, data, peers)
    hessian = torch.func.hessian(f)
    return lambda: hessian(x, *rest)


def prepare_torch_autograd(problem: Problem, case: Case, data: dict, peers: dict, vectorize: bool = False):
    torch, f, x, rest = _torch_setup(problem, data, peers)
    return lambda: torch.autograd.functional.hessian(lambda x: f(x, *rest), x, vectorize=vectorize)


@dataclass(frozen=True)
class Method:
    key: str
    label: str
    peer: str | None              # the optional library it needs
    prepare: Callable


METHODS = (
    Method("hand", "hand-written NumPy", None, prepare_hand),
    Method("ricci", "ricci", None, prepare_ricci),
    Method("jax", "JAX jit(hessian)", "jax", prepare_jax),
    Method("torch_func", "torch.func.hessian", "torch", prepare_torch_func),
    Method("torch_autograd", "torch.autograd...hessian", "torch", prepare_torch_autograd),
    Method("torch_autograd_vec", "torch.autograd...hessian(vectorize)", "torch",
           partial(prepare_torch_autograd, vectorize=True)),
)


# ------------------------------------------------------------------------------------------------------------
# Threads and optional libraries.

def load_peers(threads: int) -> tuple[dict, list]:
    """Import JAX and torch where installed; a missing one is a note, not an error."""
    peers, notes = {}, []
    try:
        jax = import_jax()
        peers["jax"] = SimpleNamespace(jax=jax, jnp=jax.numpy)
    except ImportError as exc:
        notes.append(f"JAX skipped: not installed ({exc}); `pip install jax jaxlib` to include it.")
    try:
        import torch

        torch.set_num_threads(threads)
        peers["torch"] = SimpleNamespace(torch=torch)
    except ImportError as exc:
        notes.append(f"torch skipped: not installed ({exc}); `pip install torch` to include it.")
    return peers, notes


# ------------------------------------------------------------------------------------------------------------
# Measurement.

@dataclass
class Plan:
    """How one method is sampled: ``number`` calls per sample, ``samples`` samples."""

    call: Callable
    number: int
    samples: int
    times: list = field(default_factory=list)   # seconds per call, one entry per sample


def plan_samples(call: Callable, first_seconds: float, *, repeat: int, min_time: float, budget: float) -> Plan:
    """Warm up `call` (called once already, taking ``first_seconds``) and size its samples.

    The first call is the first warm-up; a second one follows unless the first took a second or more. The
    cost of a call is estimated by the faster of the warm-up calls (the first includes any JIT compilation).
    """
    estimate = first_seconds
    if first_seconds < 1.0:
        start = time.perf_counter()
        call()
        estimate = min(estimate, time.perf_counter() - start)
    number = max(1, math.ceil(min_time / max(estimate, 1e-9)))
    samples = max(1, min(repeat, int(budget // (estimate * number))))
    return Plan(call, number, samples)


def take_samples(plans: dict, clock=time.perf_counter) -> None:
    """Sample the methods in interleaved rounds, so that a change in machine load hits all of them alike.

    Each round times one sample of every method that still needs one, starting with a different method
    each round; garbage collection is off during a sample, as in timeit. ``clock``: wall clock by default
    (``time.process_time`` counts this process's CPU time only).
    """
    keys = list(plans)
    for r in range(max((p.samples for p in plans.values()), default=0)):
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            plan = plans[key]
            if len(plan.times) >= plan.samples:
                continue
            gc.collect()
            gc.disable()
            try:
                start = clock()
                for _ in range(plan.number):
                    plan.call()
                plan.times.append((clock() - start) / plan.number)
            finally:
                gc.enable()


def to_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):          # torch
        value = value.detach().cpu()
    return np.asarray(value)


def agrees(got: np.ndarray, ref: np.ndarray) -> tuple[bool, float]:
    """allclose with a tolerance relative to the Hessian's largest entry; also the largest difference."""
    if got.shape != ref.shape:
        return False, math.inf
    err = float(np.max(np.abs(got - ref))) if ref.size else 0.0
    return bool(np.allclose(got, ref, rtol=1e-7, atol=1e-9 * max(1.0, float(np.max(np.abs(ref)))))), err


_BUILD_PROBE = """
import json, sys, time
start = time.perf_counter()
import ricci.symbolic as rs
imported = time.perf_counter()
sys.path.insert(0, {here!r})
import hessian_speed as bench
problem = bench.PROBLEMS[{problem!r}]
start_build = time.perf_counter()
f, x = problem.symbolic()
H = rs.hessian(f, x)
differentiated = time.perf_counter()
fn = rs.compile(H, sizes={sizes!r})
compiled = time.perf_counter()
print(json.dumps(dict(import_s=imported - start, differentiate_s=differentiated - start_build,
                      compile_s=compiled - differentiated)))
"""


def measure_build(case: Case, runs: int) -> dict:
    """Build f, differentiate twice with simplification, compile: each run in a fresh interpreter."""
    code = _BUILD_PROBE.format(here=str(HERE), problem=case.problem, sizes=case.sizes)
    rows = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    result = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    result["build_s"] = statistics.median(r["differentiate_s"] + r["compile_s"] for r in rows)
    result["runs"] = runs
    return result


# ------------------------------------------------------------------------------------------------------------
# One run.

@dataclass
class CaseResult:
    case: Case
    shape: tuple
    methods: dict = field(default_factory=dict)     # key -> dict(seconds, samples, ..., max_abs_err, note)
    build: dict = field(default_factory=dict)
    source: str = ""


def run_case(case: Case, peers: dict, args) -> CaseResult:
    """Check every method's Hessian against the hand-written one, then time them all in interleaved rounds."""
    problem = PROBLEMS[case.problem]
    data = problem.make_data(case.sizes, np.random.default_rng(SEED))
    reference = problem.hand(**data)
    result = CaseResult(case, reference.shape)
    plans = {}
    for method in METHODS:
        if method.peer is not None and method.peer not in peers:
            result.methods[method.key] = {"seconds": None, "note": f"{method.peer} not installed"}
            continue
        print(f"  {case.label}: {method.label}: check and warm up", file=sys.stderr, flush=True)
        call = method.prepare(problem, case, data, peers)
        start = time.perf_counter()
        value = call()
        first = time.perf_counter() - start
        ok, err = agrees(to_numpy(value), reference)
        del value
        result.methods[method.key] = {"seconds": None, "first_call_seconds": first, "max_abs_err": err}
        if not ok:
            result.methods[method.key]["note"] = "Hessian disagrees with the hand-written one; not timed"
            continue
        plans[method.key] = plan_samples(call, first, repeat=args.repeat, min_time=args.min_time,
                                         budget=args.budget)
    print(f"  {case.label}: timing {len(plans)} methods", file=sys.stderr, flush=True)
    take_samples(plans)
    for key, plan in plans.items():
        result.methods[key].update(seconds=statistics.median(plan.times), samples=len(plan.times),
                                   calls_per_sample=plan.number, sample_seconds=plan.times)
    plans.clear()
    gc.collect()
    f, x = problem.symbolic()
    result.source = rs.compile(rs.hessian(f, x), sizes=case.sizes).source
    if args.build_runs > 0:
        print(f"  {case.label}: ricci build in fresh processes", file=sys.stderr, flush=True)
        result.build = measure_build(case, args.build_runs)
    return result


def ratios(r: CaseResult) -> dict:
    """Each method's time over ricci's, and ricci's over the hand-written one's."""
    t = {k: v.get("seconds") for k, v in r.methods.items()}
    out = {}
    if t.get("ricci") and t.get("hand"):
        out["ricci/hand"] = t["ricci"] / t["hand"]
    for m in METHODS:
        if m.key not in ("hand", "ricci") and t.get(m.key) and t.get("ricci"):
            out[f"{m.key}/ricci"] = t[m.key] / t["ricci"]
    return out


def check_targets(results: list) -> list:
    """Rows (target, case, value, met) for the targets of the project's issue."""
    rows = []
    for r in results:
        q = ratios(r)
        if "ricci/hand" in q:
            rows.append((f"ricci <= {TARGET_RICCI_OVER_HAND}x hand-written", r.case.label,
                         f"{q['ricci/hand']:.2f}x", q["ricci/hand"] <= TARGET_RICCI_OVER_HAND))
        goal = TARGET_JAX_OVER_RICCI[r.case.problem]
        if "jax/ricci" in q:
            rows.append((f"JAX / ricci >= {goal:g}", r.case.label, f"{q['jax/ricci']:.1f}x", q["jax/ricci"] >= goal))
        if "build_s" in r.build:
            rows.append((f"build < {TARGET_BUILD_SECONDS:g} s", r.case.label, f"{r.build['build_s']:.3f} s",
                         r.build["build_s"] < TARGET_BUILD_SECONDS))
    return rows


# ------------------------------------------------------------------------------------------------------------
# Reporting.

def _ms(seconds) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:.3g}" if seconds < 1 else f"{seconds * 1e3:,.0f}"


def markdown(results: list, env: dict, args, notes: list) -> str:
    today = datetime.date.today().isoformat()
    v = env["versions"]
    lines = [
        f"# Hessian speed, {today}",
        "",
        f"- machine: {env['platform']}, {env['cpu']}, {env['cpu_count']} CPUs",
        (f"- threads: {env['threads']} per library ({env['thread_pools']}; torch.set_num_threads"
         f"; XLA_FLAGS='{env['xla_flags']}')"),
        (f"- python {env['python']}; ricci {v['ricci']} (commit {env['ricci_commit']}), numpy {v['numpy']}, "
         f"sympy {v['sympy']}, jax {v['jax']}, jaxlib {v['jaxlib']}, torch {v['torch']}"),
        (f"- {'quick' if args.quick else 'full'} sizes; median of up to {args.repeat} samples after warm-up, "
         f"each sample >= {args.min_time * 1e3:g} ms; float64; every Hessian checked against the hand-written one"),
        "",
        "## Time per Hessian (ms)",
        "",
        "| case | H shape | " + " | ".join(m.label for m in METHODS) + " |",
        "|---|---|" + "---:|" * len(METHODS),
    ]
    reduced = []
    for r in results:
        cells = []
        for m in METHODS:
            entry = r.methods.get(m.key, {})
            cell = _ms(entry.get("seconds"))
            if entry.get("seconds") is not None and entry["samples"] < args.repeat:
                cell += f" ({entry['samples']}x)"
                reduced.append(m.label)
            cells.append(cell)
        lines.append(f"| {r.case.label} | {r.shape} | " + " | ".join(cells) + " |")
    if reduced:
        lines += ["", f"(n x): only n samples fit in the --budget of {args.budget:g} s per method and case."]
    peers = [m for m in METHODS if m.key not in ("hand", "ricci")]
    lines += [
        "",
        "## Ratios (time / ricci's time; ricci / hand-written)",
        "",
        "| case | ricci / hand | " + " | ".join(m.label for m in peers) + " |",
        "|---|---:|" + "---:|" * len(peers),
    ]
    for r in results:
        q = ratios(r)
        cells = [f"{q['ricci/hand']:.2f}" if "ricci/hand" in q else "-"]
        cells += [f"{q[f'{m.key}/ricci']:.1f}" if f"{m.key}/ricci" in q else "-" for m in peers]
        lines.append(f"| {r.case.label} | " + " | ".join(cells) + " |")
    if any(r.build for r in results):
        lines += [
            "",
            f"## ricci build time (s): first build in a fresh process, median of {args.build_runs} process(es)",
            "",
            "| case | import ricci.symbolic | build f + differentiate + simplify | compile | build total |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in results:
            b = r.build
            if "error" in b:
                lines.append(f"| {r.case.label} | failed: {b['error']} | | | |")
            elif b:
                lines.append(f"| {r.case.label} | {b['import_s']:.3f} | {b['differentiate_s']:.4f} | "
                             f"{b['compile_s']:.4f} | {b['build_s']:.4f} |")
    targets = check_targets(results) if not args.quick else []
    if args.quick:
        lines += ["", "Targets (ratios and build time) apply to the full sizes; not checked with --quick."]
    if targets:
        lines += ["", "## Targets", "", "| target | case | value | met |", "|---|---|---:|---|"]
        lines += [f"| {t} | {c} | {v} | {'yes' if ok else '**no**'} |" for t, c, v, ok in targets]
    first = [(r.case.label, r.methods["jax"]["first_call_seconds"]) for r in results
             if r.methods.get("jax", {}).get("first_call_seconds") is not None]
    if first:
        lines += ["", "First JAX call (trace + XLA compile + run), s: "
                  + "; ".join(f"{c}: {s:.2f}" for c, s in first)]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    lines += ["", "## Generated code (fn.source)", ""]
    seen = set()
    for r in results:
        if r.source in seen:
            continue
        seen.add(r.source)
        lines += [f"{r.case.label}:", "", "```python", r.source.rstrip(), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def as_json(results: list, env: dict, args, notes: list) -> dict:
    return {
        "date": datetime.date.today().isoformat(),
        "environment": env,
        "settings": {"quick": args.quick, "repeat": args.repeat, "min_time": args.min_time, "budget": args.budget,
                     "build_runs": args.build_runs, "seed": SEED},
        "notes": notes,
        "cases": [
            {"case": r.case.label, "problem": r.case.problem, "sizes": r.case.sizes, "hessian_shape": list(r.shape),
             "methods": r.methods, "ratios": ratios(r), "build": r.build, "ricci_source": r.source}
            for r in results
        ],
        "targets": [] if args.quick else [{"target": t, "case": c, "value": v, "met": ok}
                                          for t, c, v, ok in check_targets(results)],
    }


# ------------------------------------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes and few samples (seconds, not minutes)")
    p.add_argument("--repeat", type=int, default=None, help="samples per method and case (default 7, quick 3)")
    p.add_argument("--min-time", type=float, default=None,
                   help="seconds one sample lasts at least (default 0.05, quick 0.01)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds of samples per method and case before fewer are taken (default 30, quick 2)")
    p.add_argument("--build-runs", type=int, default=None,
                   help="fresh processes for the build time (default 3, quick 1; 0 skips it)")
    p.add_argument("--threads", type=int, default=1, help="threads for every library (default 1)")
    p.add_argument("--problems", nargs="+", choices=sorted(PROBLEMS), default=sorted(PROBLEMS),
                   help="which problems to run (default all)")
    p.add_argument("--json", type=Path, default=None,
                   help="where to write the JSON results (default next to the markdown file)")
    p.add_argument("--out-dir", type=Path, default=RESULTS_DIR, help="folder for the results (default %(default)s)")
    args = p.parse_args(argv)
    defaults = {"repeat": (7, 3), "min_time": (0.05, 0.01), "budget": (30.0, 2.0), "build_runs": (3, 1)}
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.repeat < 1:
        p.error(f"--repeat must be at least 1, got {args.repeat}")
    if args.threads < 1:
        p.error(f"--threads must be at least 1, got {args.threads}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    configure_threads(args.threads)
    peers, notes = load_peers(args.threads)
    _limiter, thread_note = limit_native_threads(args.threads)  # the limit holds while the limiter lives
    env = machine(args.threads, thread_note, ("ricci", "numpy", "scipy", "sympy", "jax", "jaxlib", "torch"))
    cases = [c for c in (QUICK_CASES if args.quick else FULL_CASES) if c.problem in args.problems]
    results = [run_case(case, peers, args) for case in cases]
    for r in results:
        for m in METHODS:
            note = r.methods[m.key].get("note")
            if note and "not installed" not in note:
                err = r.methods[m.key]["max_abs_err"]
                notes.append(f"{r.case.label}, {m.label}: {note} (max |difference| {err:.3g})")
    text = markdown(results, env, args, notes)
    print(text)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"hessian_speed-{datetime.date.today().isoformat()}" + ("-quick" if args.quick else "")
    md_path = args.out_dir / f"{stem}.md"
    json_path = args.json or args.out_dir / f"{stem}.json"
    md_path.write_text(text)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(as_json(results, env, args, notes), indent=2, default=str) + "\n")
    print(f"wrote {md_path} and {json_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
