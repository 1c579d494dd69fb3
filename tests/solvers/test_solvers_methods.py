"""The registry of methods (ricci.solvers.METHOD_REGISTRY): one record per method, which every entry point reads."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import ricci.solvers as rsol
from ricci.solvers import (
    METHOD_REGISTRY,
    METHODS,
    Method,
    get_method,
    least_squares,
    minimize,
)
from ricci.solvers._options import CommonOptions


def test_every_method_has_one_record():
    assert list(METHOD_REGISTRY) == ["newton", "trust-exact", "trust-ncg", "trust-krylov", "dogleg", "lbfgs", "ggn",
                                     "ggn-lm", "tron", "auglag", "ipm", "lm", "gauss-newton"]
    assert {n for n, m in METHOD_REGISTRY.items() if m.family == "minimize"} == {*METHODS, *rsol.CONSTRAINED_METHODS,
                                                                                  "ggn", "ggn-lm"}
    for name, record in METHOD_REGISTRY.items():
        assert record.name == name and record.description and "\n" not in record.description
        if record.family == "minimize":
            assert record.function is getattr(rsol, name.replace("-", "_"))
            assert record.derivatives == "ggn" or record.function is {**METHODS, **rsol.CONSTRAINED_METHODS}[name]
            assert issubclass(record.options, CommonOptions)
        else:
            assert record.derivatives == "jacobian" and record.options is None
    with pytest.raises(TypeError):
        METHOD_REGISTRY["bfgs"] = METHOD_REGISTRY["newton"]  # read-only
    with pytest.raises(dataclasses.FrozenInstanceError):
        METHOD_REGISTRY["newton"].name = "other"


def test_derivatives_say_what_a_method_needs(rosenbrock):
    for record in METHOD_REGISTRY.values():
        assert record.uses_hessian == (record.derivatives in ("hessian", "hessian_or_product"))
        if record.derivatives == "hessian":
            with pytest.raises(TypeError, match="needs the Hessian matrix"):
                minimize(rosenbrock.fun, np.array(rosenbrock.x0), method=record.name, jac=rosenbrock.jac,
                         hessp=rosenbrock.hessp)
        if record.accepts_hessp:
            res = minimize(rosenbrock.fun, np.array(rosenbrock.x0), method=record.name, jac=rosenbrock.jac,
                           hessp=rosenbrock.hessp)
            assert res.success


def test_least_squares_records_run_least_squares(rosenbrock):
    for name in ("lm", "gauss-newton"):
        res = get_method(name).function(rosenbrock.residual, np.array(rosenbrock.x0), jac=rosenbrock.residual_jac)
        direct = least_squares(rosenbrock.residual, np.array(rosenbrock.x0), jac=rosenbrock.residual_jac, method=name)
        assert res.success and res.nfev == direct.nfev and np.array_equal(res.x, direct.x)


@pytest.mark.parametrize("name", list(METHOD_REGISTRY))
@pytest.mark.parametrize("tol", [1e-2, 1e-9])
def test_stopping_options_mean_the_gradient_norm_for_every_family(name, tol, rosenbrock):
    """minimize's gtol and least_squares' optimality_tol: max_i |grad_i| <= tol of what each minimizes
    (f, or the cost 1/2 ||r||^2 with gradient J'r)."""
    record = get_method(name)
    x0 = np.array(rosenbrock.x0)
    options = record.stopping_options(tol=tol, maxiter=500)
    if record.family == "minimize":
        assert options == {"gtol": tol, "maxiter": 500}
        derivatives = dict(rosenbrock.derivatives)
        if record.derivatives == "ggn":  # f = ||r||^2: G = 2 J'J
            derivatives = {"jac": derivatives["jac"]}
            options = {**options, "ggn": lambda x: 2.0 * rosenbrock.residual_jac(x).T @ rosenbrock.residual_jac(x)}
        res = minimize(rosenbrock.fun, x0, method=name, options=options, **derivatives)
        gradient = res.jac
    else:
        assert options == {"optimality_tol": tol, "ftol": None, "xtol": None, "gtol": None, "max_nfev": 500}
        res = record.function(rosenbrock.residual, x0, jac=rosenbrock.residual_jac, **options)
        gradient = res.grad
    assert res.success and np.abs(gradient).max() <= tol
    assert record.stopping_options() == {}


def test_get_method_spellings_and_errors():
    assert get_method("TRUST_EXACT") is METHOD_REGISTRY["trust-exact"]
    assert get_method("lm", family="least_squares").family == "least_squares"
    with pytest.raises(ValueError, match=r"unknown method 'bfgs'; valid methods are: newton, .* \(did you mean 'lbfgs'"):
        get_method("bfgs")
    with pytest.raises(ValueError, match="'lm' is a least_squares method, not a minimize one; valid methods for "
                                         "minimize are: newton"):
        get_method("lm", family="minimize")
    with pytest.raises(ValueError, match="'lm' is a least_squares method"):
        minimize(lambda x: x @ x, np.ones(2), method="lm", jac=lambda x: 2 * x)
    with pytest.raises(ValueError, match="family must be one of minimize, least_squares"):
        get_method("newton", family="scalar")


def test_records_check_their_fields():
    with pytest.raises(ValueError, match="family must be one of"):
        Method("x", "other", print, "gradient", None, "x")
    with pytest.raises(ValueError, match="derivatives must be one of"):
        Method("x", "minimize", print, "third", None, "x")
