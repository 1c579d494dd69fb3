"""Results never alias the caller's arrays: a compiled function, an Objective and a LeastSquares hand back
arrays of their own even where the result is an input (the gradient x of x'x/2, a slice x[1:3], A')."""
import numpy as np
import pytest

import ricci.symbolic as rs


def _shares(result, *inputs) -> bool:
    return any(np.shares_memory(result, a) for a in inputs)


@pytest.mark.parametrize("make", [lambda x, A: x, lambda x, A: x[1:3], lambda x, A: A.T, lambda x, A: A[0],
                                  lambda x, A: rs.concat([x, x])])
def test_compiled_results_are_not_views_of_inputs(make):
    x, A = rs.Vector("x", 5), rs.Matrix("A", 3, 4)
    fn = rs.compile([make(x, A), x @ x], variables=[x, A])
    xv, Av = np.arange(5.0), np.arange(12.0).reshape(3, 4)
    expected = fn(x=xv.copy(), A=Av.copy())
    out = fn(x=xv, A=Av)
    assert not _shares(out[0], xv, Av)
    out[0][...] = -7.0  # writing into a result leaves the inputs as they were
    np.testing.assert_array_equal(xv, np.arange(5.0))
    np.testing.assert_array_equal(Av, np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(fn(x=xv, A=Av)[0], expected[0])


def test_objective_and_least_squares_results_are_their_own():
    x = rs.Vector("x", 5)
    obj = rs.Objective(x @ x / 2, [x], {})
    ls = rs.LeastSquares(x, [x], {})
    a, p = np.arange(5.0), np.ones(5)
    for result in (obj.jac(a), obj.fun_and_jac(a)[1], obj.hessp(a, p), ls.fun(a)):
        assert not _shares(result, a, p)
    g = obj.jac(a)
    a -= 0.5 * g  # a gradient step in place: g is not a, so the step is the one the caller meant
    np.testing.assert_allclose(a, 0.5 * np.arange(5.0))
    np.testing.assert_allclose(obj.jac(a), a)
