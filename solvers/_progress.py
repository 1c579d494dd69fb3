"""The ``disp=True`` report: one line per iteration and a final summary."""
from __future__ import annotations

import time


class Progress:
    """Prints iteration, objective, gradient infinity norm, step length or trust radius, and elapsed time."""

    def __init__(self, enabled: bool, method: str, step_label: str):
        self.enabled = bool(enabled)
        self.method = method
        self.step_label = step_label
        self._start = time.perf_counter()
        self._header_done = False

    def iteration(self, k: int, f: float, gnorm: float, step: float | None) -> None:
        if not self.enabled:
            return
        if not self._header_done:
            print(f"ricci.solvers {self.method}")
            print(f"{'iter':>6}  {'f':>15}  {'|g|_inf':>10}  {self.step_label:>10}  {'time[s]':>9}")
            self._header_done = True
        step_text = f"{step:10.3e}" if step is not None else f"{'-':>10}"
        print(f"{k:6d}  {f:15.8e}  {gnorm:10.3e}  {step_text}  {time.perf_counter() - self._start:9.3f}")

    def summary(self, message: str, **fields) -> None:
        if not self.enabled:
            return
        print(message)
        for name, value in fields.items():
            text = f"{value:.8e}" if isinstance(value, float) else str(value)
            print(f"         {name}: {text}")
        print(f"         elapsed: {time.perf_counter() - self._start:.3f} s")
