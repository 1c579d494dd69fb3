"""Convergence plots: gradient norm and objective gap against wall time and against iterations (matplotlib,
imported only when a plot is asked for)."""
from __future__ import annotations

import math


def require_matplotlib():
    """Import matplotlib with a file-only backend, or raise ImportError with the install hint."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_runs(runs, reference: float, reference_label: str, title: str, path) -> None:
    """Write a 2 x 2 figure to ``path``: |grad f|_inf and f - f_ref (log scale) against time and iterations.

    Gaps at or below zero (a run matching or beating the reference) are drawn at a floor of
    1e-16 max(1, |f_ref|), the resolution of double precision.
    """
    plt = require_matplotlib()
    floor = 1e-16 * max(1.0, abs(reference)) if math.isfinite(reference) else 1e-16
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), constrained_layout=True)
    for r in runs:
        gaps = [max(f - reference, floor) for f in r.trace_fun]
        grads = [max(g, 1e-300) for g in r.trace_grad]
        style = {"marker": "o", "markersize": 2.5, "linewidth": 1.2, "label": r.method}
        axes[0, 0].semilogy(r.trace_time, grads, **style)
        axes[0, 1].semilogy(r.trace_iter, grads, **style)
        axes[1, 0].semilogy(r.trace_time, gaps, **style)
        axes[1, 1].semilogy(r.trace_iter, gaps, **style)
    gap_label = f"f - f* ({reference_label} {reference:.6g})"
    for ax, xl, yl in ((axes[0, 0], "wall time [s]", "|grad f|_inf"), (axes[0, 1], "iteration", "|grad f|_inf"),
                       (axes[1, 0], "wall time [s]", gap_label), (axes[1, 1], "iteration", gap_label)):
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 1].legend()
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
