"""The solver benchmark's report: the issue's targets, the performance profile, plots, markdown and JSON.

The targets (the pass/fail thresholds of the project's issue) live here, in the benchmark, not in the
package: a results file says which were met with the measured values, and nothing in ``ricci`` tests them.
"""
from __future__ import annotations

import datetime
import json
import math
import statistics
import sys
import time

import numpy as np
from _harness import FAMILIES, RTOL, summary
from peers import METHOD_KEYS, METHODS, SECOND_ORDER, method_label

FAMILY_TITLES = {"logistic": "Logistic regression", "softmax": "Softmax regression (10 classes)",
                 "factorization": "Matrix factorization with missing entries", "mlp": "MLP regression",
                 "mgh": "More-Garbow-Hillstrom test set"}
TARGET_CASE = "logistic m=10000 n=500 cond=1e3"
TARGET_LBFGSB = 3.0          # ricci newton at least 3x faster than scipy L-BFGS-B
TARGET_SKLEARN = 1.2         # ... and within 1.2x of scikit-learn newton-cholesky
TARGET_JAX = 2.0             # ricci-Hessian Newton at least 2x faster than the JAX-Hessian Newton


# ----------------------------------------------------------------------------------------------------------
# Targets, performance profile
# ----------------------------------------------------------------------------------------------------------



def _ttt(results, label, key):
    for r in results:
        if r.case.label == label:
            s = summary(r, key)
            return s["time_to_target"] if s else None
    return None


def _whole(results, label, key):
    r = next(r for r in results if r.case.label == label)
    return summary(r, key)["wall"]


def _lbfgsb_at_its_best(results) -> str:
    """L-BFGS-B's time to the gradient norm it ends at, against ricci newton's time to the same norm."""
    r = next(r for r in results if r.case.label == TARGET_CASE)
    lb, nt = summary(r, "scipy-lbfgsb")["median_run"]["trace"], summary(r, "newton")["median_run"]["trace"]
    level = min(lb["grad_norm"])
    t_lb = next(t for t, g in zip(lb["time"], lb["grad_norm"]) if g <= level)
    t_nt = next((t for t, g in zip(nt["time"], nt["grad_norm"]) if g <= level), None)
    if not t_nt:
        return f"it stops at ||g|| {level:.2e}"
    return (f"it stops at ||g|| {level:.2e} ({level / r.gtol:.1f}x the target) after {t_lb:.2f} s; ricci newton gets "
            f"there in {t_nt:.3f} s: {t_lb / t_nt:.1f}x")


def targets(results, mgh) -> list:
    """Rows (target, measured, met) for the issue's three targets, where their cases were run."""
    rows = []
    newton = _ttt(results, TARGET_CASE, "newton")
    if newton is not None or any(r.case.label == TARGET_CASE for r in results):
        lb = _ttt(results, TARGET_CASE, "scipy-lbfgsb")
        sk = _ttt(results, TARGET_CASE, "sklearn-newton-cholesky")
        ran_lb = summary(next(r for r in results if r.case.label == TARGET_CASE), "scipy-lbfgsb") is not None
        if ran_lb and newton and lb:
            rows.append((f"{TARGET_CASE}: scipy L-BFGS-B / ricci newton >= {TARGET_LBFGSB:g}",
                         f"{lb / newton:.2f}x", lb / newton >= TARGET_LBFGSB))
        elif ran_lb and newton:
            rows.append((f"{TARGET_CASE}: scipy L-BFGS-B / ricci newton >= {TARGET_LBFGSB:g}",
                         "L-BFGS-B never reaches the target; " + _lbfgsb_at_its_best(results), True))
        if newton and sk:
            whole = _whole(results, TARGET_CASE, "newton")
            rows.append((f"{TARGET_CASE}: ricci newton / sklearn newton-cholesky <= {TARGET_SKLEARN:g}",
                         f"{newton / sk:.2f}x (whole call, with the final Hessian ricci returns: {whole / sk:.2f}x)",
                         newton / sk <= TARGET_SKLEARN))
    for r in results:
        newton, jaxn = _ttt([r], r.case.label, "newton"), _ttt([r], r.case.label, "jax-newton")
        if newton and jaxn:
            rows.append((f"{r.case.label}: JAX-Hessian newton / ricci newton >= {TARGET_JAX:g}",
                         f"{jaxn / newton:.2f}x", jaxn / newton >= TARGET_JAX))
    if mgh:
        prof = mgh["profile"]
        ref = "scipy-trust-exact"
        if ref in prof["rho"]:
            best = mgh["best_second_order"]
            rows.append((f"MGH: profile of ricci's best second-order method ({best}) >= scipy trust-exact's at every tau",
                         f"min margin {mgh['margins'][best]:+.3f}", mgh["margins"][best] >= 0))
        rows.append(("MGH: every problem solved by at least one ricci method",
                     f"{mgh['solved_by_ricci']}/{mgh['count']}" + (f" (unsolved: {', '.join(mgh['unsolved'])})"
                                                                   if mgh["unsolved"] else ""),
                     not mgh["unsolved"]))
    return rows


def performance_profile(results) -> dict | None:
    """Dolan & More (2002), "Benchmarking optimization software with performance profiles", Math. Program. 91:
    r_ps = t_ps / min_s t_ps (infinite when s misses the target on p), rho_s(tau) = |{p : r_ps <= tau}| / |P|.
    """
    mgh = [r for r in results if r.case.family == "mgh"]
    if not mgh:
        return None
    keys = [k for k in METHOD_KEYS if any(k in r.runs for r in mgh)]
    times = {k: [] for k in keys}
    for r in mgh:
        row = {k: (summary(r, k) or {}).get("time_to_target") for k in keys}
        for k in keys:
            times[k].append(math.inf if row[k] is None else row[k])
    T = np.array([times[k] for k in keys])                      # (solvers, problems)
    best = T.min(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        R = np.where(np.isfinite(best), T / best, math.inf)
    finite = R[np.isfinite(R)]
    taus = np.unique(np.concatenate([[1.0], finite]))
    rho = {k: [(R[i] <= t).mean() for t in taus] for i, k in enumerate(keys)}
    ricci2 = [k for k in SECOND_ORDER if k in rho]
    margins = {k: float(min(np.subtract(rho[k], rho["scipy-trust-exact"]))) if "scipy-trust-exact" in rho else math.nan
               for k in ricci2}
    best_key = max(ricci2, key=lambda k: (margins[k], float(np.trapezoid(rho[k], np.log2(taus)))
                                          if len(taus) > 1 else rho[k][0]))
    ricci_keys = [m.key for m in METHODS if m.group == "ricci" and m.key in keys]
    solved = [np.isfinite(T[[keys.index(k) for k in ricci_keys]]).any(axis=0)]
    unsolved = [r.case.label for r, ok in zip(mgh, solved[0]) if not ok]
    return {"profile": {"tau": taus.tolist(), "rho": {k: list(map(float, v)) for k, v in rho.items()}},
            "margins": margins, "best_second_order": best_key, "count": len(mgh),
            "solved_by_ricci": int(solved[0].sum()), "unsolved": unsolved,
            "solved": {k: int(np.isfinite(T[i]).sum()) for i, k in enumerate(keys)}}


# ----------------------------------------------------------------------------------------------------------
# Plots
# ----------------------------------------------------------------------------------------------------------



def _pyplot():
    """matplotlib.pyplot with a file-only backend (matplotlib comes with the ``bench`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_family(results, family, path) -> None:
    """Gradient norm (infinity norm) against wall time, one panel per case, the median repetition per method."""
    plt = _pyplot()
    rs = [r for r in results if r.case.family == family]
    cols = min(3, len(rs))
    rows = math.ceil(len(rs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.9 * rows), squeeze=False, constrained_layout=True)
    for ax, r in zip(axes.flat, rs):
        for i, key in enumerate(METHOD_KEYS):
            s = summary(r, key)
            if s is None:
                continue
            tr = s["median_run"]["trace"]
            t = [max(v, 1e-5) for v in tr["time"]]
            g = [max(v, 1e-300) for v in tr["grad_norm"]]
            style = "-" if key in SECOND_ORDER or key == "jax-newton" or "newton" in key else "--"
            ax.loglog(t, g, style, marker="o", markersize=2, linewidth=1.1, label=method_label(key),
                      color=plt.cm.tab20(i % 20))
        ax.axhline(r.gtol, color="k", linewidth=0.8, linestyle=":")
        ax.set_title(r.case.label, fontsize=9)
        ax.set_xlabel("wall time [s]")
        ax.set_ylabel("||grad f||_inf")
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(rs):]:
        ax.axis("off")
    handles = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=min(5, len(handles)),
               fontsize=8)
    fig.suptitle(f"{FAMILY_TITLES[family]}: gradient norm against wall time (dotted: the target)")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_profile(mgh, path) -> None:
    plt = _pyplot()
    taus = np.array(mgh["profile"]["tau"])
    fig, ax = plt.subplots(figsize=(8, 5.2), constrained_layout=True)
    for i, (key, rho) in enumerate(mgh["profile"]["rho"].items()):
        ax.step(np.log2(taus), rho, where="post", label=method_label(key), color=plt.cm.tab20(METHOD_KEYS.index(key) % 20),
                linewidth=2.2 if key in (mgh["best_second_order"], "scipy-trust-exact") else 1.1,
                linestyle="-" if key in SECOND_ORDER or "newton" in key or "exact" in key else "--")
    ax.set_xlabel("log2(tau): within a factor tau of the fastest method")
    ax.set_ylabel("fraction of problems solved")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"Dolan-More performance profile, time to ||grad f||_inf <= {RTOL:g} max(1, ||grad f(x0)||_inf), "
                 f"{mgh['count']} MGH problems", fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------------------
# Tables, markdown and JSON
# ----------------------------------------------------------------------------------------------------------


def _s(seconds):
    if seconds is None:
        return "-"
    if seconds < 0.01:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e3:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _evals(run):
    parts = [run.get(k) for k in ("nfev", "njev", "nhev")]
    return "/".join("-" if p is None else str(p) for p in parts)


def _status(run, gtol):
    if run["error"]:
        return "error: " + run["error"][:60]
    if run["time_to_target"] is not None:
        return "target"
    if run["timed_out"]:
        return "time limit"
    msg = run.get("message") or ""
    status = run.get("status")
    return f"missed (status {status}: {msg[:50]})" if status is not None else "missed"


def family_table(results, family) -> list:
    rs = [r for r in results if r.case.family == family]
    lines = [("| case | method | time to target | vs ricci newton | whole call | iterations | evals f/g/H | final ‖g‖∞ "
              "| f − f_ref | outcome |"),
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rs:
        base = (summary(r, "newton") or {}).get("time_to_target")
        for key in METHOD_KEYS:
            s = summary(r, key)
            if s is None:
                continue
            run = s["median_run"]
            ttt = s["time_to_target"]
            ratio = f"{ttt / base:.2f}x" if ttt and base else "-"
            gap = run["f"] - r.f_ref if math.isfinite(run["f"]) and math.isfinite(r.f_ref) else math.nan
            outcome = _status(run, r.gtol) if s["reached"] in (0, s["repeats"]) else f"target in {s['reached']}/{s['repeats']} runs"
            lines.append(f"| {r.case.label} | {method_label(key)} | {_s(ttt)} | {ratio} | {_s(s['wall'])} "
                         f"| {run['nit'] if run['nit'] is not None else '-'} "
                         f"| {_evals(run)} | {run['grad']:.1e} | {gap:.1e} | {outcome} |")
    return lines


def mgh_tables(results, mgh) -> list:
    rs = [r for r in results if r.case.family == "mgh"]
    keys = [k for k in METHOD_KEYS if any(k in r.runs for r in rs)]
    short = {k: method_label(k).replace("ricci ", "").replace("scipy ", "sp ") for k in keys}
    lines = [("Time to target in ms (median); `-`: target not reached (time limit, iteration limit, or stopped "
              "without progress); **bold**: fastest."), "",
             "| problem | n | " + " | ".join(short[k] for k in keys) + " |",
             "|---|---:|" + "---:|" * len(keys)]
    for r in rs:
        t = {k: (summary(r, k) or {}).get("time_to_target") for k in keys}
        best = min((v for v in t.values() if v is not None), default=None)
        cells = []
        for k in keys:
            v = t[k]
            cell = "-" if v is None else f"{v * 1e3:.2f}"
            cells.append(f"**{cell}**" if v is not None and v == best else cell)
        lines.append(f"| {r.case.label} | {r.n} | " + " | ".join(cells) + " |")
    lines += ["", "| method | problems solved | median time to target over solved (ms) | profile rho(1) | rho(4) |",
              "|---|---:|---:|---:|---:|"]
    taus = np.array(mgh["profile"]["tau"])
    for k in keys:
        rho = mgh["profile"]["rho"][k]
        solved = [summary(r, k)["time_to_target"] for r in rs if summary(r, k) and summary(r, k)["time_to_target"]]
        at4 = rho[int(np.searchsorted(taus, 4.0, side="right")) - 1]
        lines.append(f"| {method_label(k)} | {mgh['solved'][k]}/{mgh['count']} | "
                     f"{statistics.median(solved) * 1e3 if solved else math.nan:.2f} | {rho[0]:.2f} | {at4:.2f} |")
    return lines


def markdown(results, env, args, mgh, paths, notes) -> str:
    v = env["versions"]
    today = datetime.date.today().isoformat()
    dev = f"; GPU: {env['gpu']}" if env.get("gpu") else ""
    lines = [
        f"# Solvers benchmark, {today}" + (" (quick)" if args.quick else "") + (f", backend {args.backend}" if args.backend != "numpy" else ""),
        "",
        f"- machine: {env['platform']}, {env['cpu']}, {env['cpu_count']} CPUs{dev}",
        f"- threads: {env['threads']} per library ({env['thread_pools']}; XLA_FLAGS='{env['xla_flags']}')",
        (f"- python {env['python']}; ricci {v['ricci']} (commit {env['ricci_commit']}), numpy {v['numpy']}, "
         f"scipy {v['scipy']}, scikit-learn {v['scikit-learn']}, jax {v['jax']}, matplotlib {v['matplotlib']}"
         + (f", cupy {v['cupy-cuda12x']}" if args.backend == "cupy" else "")),
        (f"- target: ‖grad f‖∞ <= {RTOL:g} max(1, ‖grad f(x0)‖∞); median of {args.repeat} repetition(s) in "
         f"interleaved rounds; float64; time limit per run {'/'.join(sorted({f'{c.time_limit:g}' for c in (r.case for r in results)}))} s"),
        f"- command: `{args.command}`",
        "",
        ("Time to target excludes setup (ricci: differentiate + compile; JAX: trace + compile), listed at the end. "
         "`vs ricci newton`: time / ricci newton's time on the same case (> 1: ricci newton is faster). "
         "`whole call`: the solver call's wall time, including any work after the last iterate (ricci's "
         "newton and trust-region drivers evaluate the Hessian at the final point to return it). "
         "`f − f_ref`: gap to the known minimum, else to the lowest value any method reached. "
         "Evaluations are as each solver counts them (`-`: not reported)."),
    ]
    rows = targets(results, mgh) if not args.quick else []
    if rows:
        lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
        lines += [f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in rows]
    elif args.quick:
        lines += ["", "Targets apply to the full sizes; not checked with --quick."]
    for fam in FAMILIES:
        if not any(r.case.family == fam for r in results):
            continue
        lines += ["", f"## {FAMILY_TITLES[fam]}", ""]
        if fam in paths:
            lines += [f"![{fam}]({paths[fam].name})", ""]
        if fam == "mgh" and mgh:
            if "mgh-profile" in paths:
                lines += [f"![performance profile]({paths['mgh-profile'].name})", ""]
            lines += mgh_tables(results, mgh)
        else:
            lines += family_table(results, fam)
    lines += ["", "## Setup times (s, not in the times above)", "",
              "| case | n | gtol | ricci build | ricci first f/g/H | JAX first call |", "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        if r.case.family == "mgh":
            continue
        s = r.setup
        cells = [s.get("ricci build (differentiate + compile)"), s.get("ricci first f, gradient, Hessian"),
                 s.get("JAX first call (trace + XLA compile)")]
        lines.append(f"| {r.case.label} | {r.n} | {r.gtol:.2e} | " + " | ".join("-" if c is None else f"{c:.3f}" for c in cells) + " |")
    allnotes = list(notes) + [n for r in results for n in r.notes]
    if allnotes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in allnotes]
    return "\n".join(lines).rstrip() + "\n"


def thin_trace(trace: dict, points: int = 100) -> dict:
    """At most ``points`` entries of a trace (evenly spaced, first and last kept), to keep the JSON small."""
    n = len(trace.get("time", ()))
    if n <= points:
        return trace
    keep = sorted(set(np.linspace(0, n - 1, points).round().astype(int).tolist()))
    return {k: [v[i] for i in keep] for k, v in trace.items()}


def as_json(results, env, args, mgh, notes) -> dict:
    def run_doc(run):
        return {**run, "trace": thin_trace(run.get("trace") or {})}

    return {
        "date": datetime.date.today().isoformat(), "environment": env, "command": args.command,
        "settings": {"quick": args.quick, "repeat": args.repeat, "rtol": RTOL, "backend": args.backend},
        "notes": notes + [n for r in results for n in r.notes],
        "targets": [{"target": t, "measured": m, "met": ok} for t, m, ok in (targets(results, mgh) if not args.quick else [])],
        "mgh": mgh,
        "cases": [{"case": r.case.label, "family": r.case.family, "n": r.n, "gtol": r.gtol, "grad0": r.g0,
                   "setup_s": r.setup, "f_ref": r.f_ref, "f_ref_label": r.f_ref_label,
                   "methods": {k: {"time_to_target": (summary(r, k) or {}).get("time_to_target"),
                                   "runs": [run_doc(x) for x in runs]} for k, runs in r.runs.items()}}
                  for r in results],
    }


def json_default(v):
    """JSON for NumPy scalars and arrays (and str() for anything else) in the results file."""
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


def write_results(out, stem, text, doc, paths, log) -> None:
    """Write the report ``text`` to ``out/stem.md`` and ``doc`` to ``out/stem.json``, print the report and log
    the files written (the plots in ``paths`` too); shared by every benchmark script that writes results."""
    md, js = out / f"{stem}.md", out / f"{stem}.json"
    md.write_text(text, encoding="utf-8")
    js.write_text(json.dumps(doc, separators=(",", ":"), default=json_default) + "\n", encoding="utf-8")
    print(text)
    log(f"wrote {md}, {js}" + "".join(f", {p}" for p in paths.values()))


def results_stem(script: str, quick: bool, suffix: str = "") -> str:
    """The file stem of a run's results: ``<script>-<date>[-quick]<suffix>``."""
    return f"{script}-{datetime.date.today().isoformat()}" + ("-quick" if quick else "") + suffix


def write_run(out, stem, no_plots, plots, render, started, notes, log) -> int:
    """The end of a benchmark script's run, shared by the scripts: draw the plots (``plots``: (key, draw)
    pairs, ``draw(path)`` writing ``out/<stem>-<key>.png``; without matplotlib they are skipped with a note),
    note the whole run's time, then write ``render(paths) -> (markdown, json document)`` with
    :func:`write_results`. Returns the exit status 0."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    if not no_plots:
        try:
            for key, draw in plots:
                paths[key] = out / f"{stem}-{key}.png"
                draw(paths[key])
        except ImportError as exc:
            notes.append(f"plots skipped: {exc}")
            paths = {}
    notes.append(f"whole run: {time.perf_counter() - started:.0f} s")
    text, doc = render(paths)
    write_results(out, stem, text, doc, paths, log)
    return 0


def script_main(script, parser, run, argv=None) -> int:
    """A benchmark script's entry point: parse ``argv``, record the command line as ``args.command`` and run;
    a ValueError from the run is a usage error (exit 2 with the message)."""
    p = parser()
    args = p.parse_args(argv)
    args.command = f"python benchmarks/{script} " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except ValueError as exc:
        p.error(str(exc))
    return 2
