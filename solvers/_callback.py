"""User callbacks with scipy's two conventions.

``callback(intermediate_result)`` (the only parameter is named ``intermediate_result``) receives an
OptimizeResult; any other callable is the legacy ``callback(xk)``. Raising StopIteration ends the solve.
"""
from __future__ import annotations

import inspect

from scipy.optimize import OptimizeResult


def wrap_callback(callback):
    """Return ``notify(**fields) -> bool`` (True: the user asked to stop), or None without a callback."""
    if callback is None:
        return None
    if not callable(callback):
        raise TypeError(f"callback must be callable or None; got {type(callback).__name__}")
    try:
        params = set(inspect.signature(callback).parameters)
    except (TypeError, ValueError):
        params = set()
    new_style = params == {"intermediate_result"}

    def notify(**fields) -> bool:
        try:
            if new_style:
                callback(intermediate_result=OptimizeResult(**fields))
            else:
                callback(fields["x"])
        except StopIteration:
            return True
        return False

    return notify
