"""Array-namespace plumbing shared by every solver.

Everything array-library specific is confined here and in `_linalg.py`: the drivers and the step modules work
on arrays of the namespace returned by :func:`array_api_compat.array_namespace` and bring only Python floats back
to the host (for control flow and printing).
"""
from __future__ import annotations

import math

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj


class NonFiniteValue(ArithmeticError):
    """A value the user's function returned (the Hessian, a Hessian-vector product) holds NaN or inf."""


class SolverOverflow(ArithmeticError):
    """ricci's own arithmetic on finite values overflowed (or became NaN): the problem is scaled beyond what
    floating point can combine."""


def overflow_detail(exc: ArithmeticError) -> str:
    """What a :class:`SolverOverflow` (or Python's OverflowError on host floats) says, for a result message."""
    if isinstance(exc, SolverOverflow):
        return str(exc)
    return f"Host arithmetic failed ({type(exc).__name__}: {exc})."


def prepare_x0(x0, name: str = "x0"):
    """Validate the starting point and return ``(xp, x0)``.

    A Python sequence is converted with NumPy (integers become float64, as in scipy); an array keeps its own
    namespace and dtype. The array must be 1-D, non-empty and of dtype float32 or float64: the solvers
    compute in the dtype of x0, and the dense linear algebra they use (LAPACK, cuSOLVER) exists for those
    two only, so float16 (and longer floats) are refused here rather than failing inside a factorization.
    """
    if is_array_api_obj(x0) and not isinstance(x0, np.generic):
        x = x0
    else:
        try:
            x = np.asarray(x0)
        except Exception as exc:  # pragma: no cover - exotic objects
            raise TypeError(f"{name} must be a 1-D floating-point array; got {type(x0).__name__}") from exc
        if x.dtype.kind in "iu" and not isinstance(x0, np.ndarray):
            x = x.astype(np.float64)
    xp = array_namespace(x)
    if x.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of shape (n,); got an array of shape {tuple(x.shape)}. "
            "Flatten several variables into one vector (reshape(-1)) and reshape inside fun."
        )
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(
            f"{name} must have a real floating dtype (float32 or float64); got dtype {x.dtype}. "
            f"Convert it first, e.g. xp.astype({name}, xp.float64)."
        )
    if x.dtype != xp.float32 and x.dtype != xp.float64:
        raise TypeError(
            f"{name} has dtype {x.dtype}; ricci.solvers computes in float32 or float64 (the dtypes of the dense "
            f"linear algebra it uses). Convert it first, e.g. xp.astype({name}, xp.float32)."
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name} must have at least one entry; got shape {tuple(x.shape)}")
    return xp, x


_KINDS = (("f", "real floating"), ("i", "signed integer"), ("u", "unsigned integer"), ("b", "bool"),
          ("c", "complex floating"))


def _dtype_kind(dtype, xp=None) -> str:
    """NumPy's one-letter kind of a dtype ("f", "i", "u", "b", "c"; "?" for anything else). NumPy and CuPy
    dtypes say it themselves; other array-API libraries' dtypes are asked through ``xp.isdtype``."""
    if isinstance(dtype, np.dtype):
        return dtype.kind
    if xp is not None:
        for kind, name in _KINDS:
            try:
                if xp.isdtype(dtype, name):
                    return kind
            except (TypeError, ValueError):
                break
    return "?"


def _namespace(value):
    try:
        return array_namespace(value)
    except TypeError:
        return None


def _describe(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def as_scalar(value, what: str) -> float:
    """The user's objective value as a Python float (a 0-D or size-1 array is accepted). A real number is
    expected: strings, booleans and complex values are refused (TypeError), never converted."""
    if isinstance(value, float) and type(value) is float:  # the common case, first
        return value
    if isinstance(value, (str, bytes, bytearray, complex, bool, np.bool_)) or value is None:
        raise TypeError(f"{what} must return a real number (float); got {_describe(value)}")
    dtype = getattr(value, "dtype", None)
    if dtype is not None and _dtype_kind(dtype, _namespace(value)) not in "fiu":
        raise TypeError(f"{what} must return a real number (float); got a value of dtype {dtype}")
    shape = getattr(value, "shape", None)
    if shape is not None and tuple(shape) != ():
        size = math.prod(shape)
        if size != 1:
            raise ValueError(f"{what} must return a scalar; got an array of shape {tuple(shape)}")
        value = array_namespace(value).reshape(value, ())
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must return a real number (float); got {_describe(value)}") from exc


def as_array(xp, value, like, shape, what: str):
    """Coerce a user-returned array into ``like``'s namespace and dtype and check its shape (None: any). Real numbers
    (floating or integer) are expected: complex, boolean or non-numeric values are refused with a TypeError,
    never cast (a cast would silently drop the imaginary part)."""
    if is_array_api_obj(value) and not isinstance(value, np.generic) and array_namespace(value) is xp:
        arr = value
    else:
        expected = "a real array" if shape is None else f"a real array of shape {tuple(shape)}"
        if isinstance(value, (str, bytes, bytearray)) or value is None:
            raise TypeError(f"{what} must return {expected}; got {_describe(value)}")
        try:
            arr = xp.asarray(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{what} must return {expected}; got {type(value).__name__} ({exc})") from None
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{what} must return an array of shape {tuple(shape)}; got shape {tuple(arr.shape)}")
    if arr.dtype != like.dtype:
        kind = _dtype_kind(arr.dtype, xp)
        if kind not in "fiu":
            what_came = "complex values" if kind == "c" else "values"
            raise TypeError(f"{what} must return real numbers (dtype {like.dtype}); got {what_came} of dtype "
                            f"{arr.dtype}. ricci.solvers minimizes real functions of a real x.")
        arr = xp.astype(arr, like.dtype)
    return arr


def power_of_two_scale(magnitude: float, degree: int) -> float:
    """A power of two s for values of the given ``magnitude``: 1.0 when the magnitude lies in [2^-k, 2^k] with
    k = 900 // degree; above, the s that brings it down to 2^k (no further, so that much smaller entries of
    the same vector do not underflow); below, the s that brings it up to [1/2, 1).

    Multiplying by a power of two is exact in binary floating point (short of overflow and underflow), so a
    solver that works on s f, s g, s H instead of f, g, H takes the same steps. ``degree`` is the highest
    degree of the products the solver forms from those values (3 for g'Hg in ``minimize``, 2 for r'r and J'J in
    ``least_squares``): with every value at most 2^k in magnitude such products stay below 2^900, so that an f
    scaled by 1e+-150, or residuals of 1e200, neither overflow nor underflow inside the solver, and the
    solver's absolute safeguards (a rounding allowance of eps * max(1, |f|)) see an f of ordinary size."""
    limit = 900 // degree
    if not math.isfinite(magnitude) or magnitude == 0.0:
        return 1.0
    exponent = math.frexp(magnitude)[1]  # magnitude in [2^(exponent-1), 2^exponent)
    if exponent > limit:
        return math.ldexp(1.0, limit - exponent)
    if exponent - 1 < -limit:  # up to [1/2, 1), by at most 2^1000 (so that 1 / s stays a normal float)
        return math.ldexp(1.0, min(-exponent, 1000))
    return 1.0


def copy(xp, x):
    """A defensive copy handed to user callbacks."""
    return xp.asarray(x, copy=True)


def dot(xp, a, b) -> float:
    """<a, b> as a host float."""
    return float(xp.sum(a * b))


def norm(xp, v) -> float:
    """Euclidean norm as a host float; where the sum of squares under- or overflows (entries beyond 1e+-154)
    it is recomputed on v / max|v_i|, so a nonzero finite v never has norm 0 or inf."""
    result = float(xp.linalg.vector_norm(v))
    if result == 0.0 or result == math.inf:
        largest = max_abs(xp, v)
        if 0.0 < largest < math.inf:
            result = largest * float(xp.linalg.vector_norm(v / largest))
    return result


def max_abs(xp, v) -> float:
    """Infinity norm (largest absolute entry) as a host float; NaN if any entry is NaN."""
    return float(xp.max(xp.abs(v)))


def all_finite(xp, v) -> bool:
    """True when every entry is finite (one scalar comes back to the host)."""
    return bool(xp.all(xp.isfinite(v)))


def eps(xp, x) -> float:
    """Machine epsilon of x's dtype."""
    return float(xp.finfo(x.dtype).eps)
