"""The per-family default method (problems/_defaults.py): every family has one that its problems support,
``Problem.solve()`` and ``ricci solve NAME`` use it, and ``--compare all`` still runs every method."""
from __future__ import annotations

import numpy as np
import pytest
from ricci import problems
from ricci.problems import _cli
from ricci.problems._defaults import DEFAULT_METHODS, FALLBACK_METHOD, default_method

# one cheap problem per family (parameters keep them small)
SAMPLES = {
    "logistic": ("logistic-regression-synthetic", {}),
    "softmax": ("softmax-regression", {}),
    "factorization": ("matrix-factorization", {}),
    "mlp": ("mlp", {}),
    "mgh": ("rosenbrock", {}),
}


def test_every_unconstrained_family_has_a_default_its_problems_support():
    assert set(problems.families()) <= set(DEFAULT_METHODS)
    for family in problems.families():
        name, params = SAMPLES[family]
        p = problems.get(name, **params)
        assert p.family == family
        # the registry's small network: its Jacobian is small, so not Hessian-free ggn but the next
        assert default_method(p) == DEFAULT_METHODS[family][family == "mlp"]
        assert default_method(p) in p.methods


def test_every_mgh_problem_takes_its_default():
    for name in problems.names(family="mgh")[:3]:
        p = problems.get(name)
        assert default_method(p) == "lm" and "lm" in p.methods


def test_a_problem_without_the_preferred_method_takes_the_next_or_the_fallback():
    class Fake:
        family, methods = "factorization", ("newton", "trust-exact", "gauss-newton")

    assert default_method(Fake()) == "gauss-newton"
    Fake.family = "some-later-family"
    assert default_method(Fake()) == FALLBACK_METHOD


def test_networks_with_a_large_jacobian_take_hessian_free_ggn(monkeypatch):
    from ricci.symbolic import _ggn

    assert default_method(problems.get("mlp", loss="logistic")) == "trust-exact"
    monkeypatch.setattr(_ggn, "HESSIAN_FREE_ENTRIES", 0)  # every output Jacobian counts as large
    p = problems.get("mlp", loss="logistic")
    assert p.objective.prefers_products and default_method(p) == "ggn"
    calls = []
    products = p.objective.ggn_products
    p.objective.ggn_products = lambda x: calls.append(1) or products(x)
    assert p.solve(maxiter=5).nit == 5 and len(calls) == 5


def test_large_factorizations_skip_varpro_for_gauss_newton():
    """varpro's reduced problem is dense in U's unknowns: above VARPRO_MAX_N unknowns the default is the next
    method (gauss-newton), below it varpro."""
    from ricci.problems._defaults import VARPRO_MAX_N

    class Fake:
        family, methods = "factorization", ("newton", "varpro", "gauss-newton")
        n = VARPRO_MAX_N

    assert default_method(Fake()) == "varpro"
    Fake.n = VARPRO_MAX_N + 1
    assert default_method(Fake()) == "gauss-newton"
    Fake.family = "some-later-family"
    assert default_method(Fake()) == FALLBACK_METHOD


@pytest.mark.parametrize("family", ["logistic", "mgh"])
def test_solve_without_a_method_runs_the_default(family):
    name, params = SAMPLES[family]
    p = problems.get(name, **params)
    default = p.solve(tol=1e-9)
    named = p.solve(default_method(p), tol=1e-9)
    np.testing.assert_allclose(default.x, named.x, rtol=0, atol=0)
    assert default.nfev == named.nfev
    g = np.asarray(p.objective.jac(default.x))
    assert np.max(np.abs(g)) <= 1e-9 * max(1.0, np.max(np.abs(np.asarray(p.objective.jac(p.start())))))


def test_cli_solve_runs_the_family_default_first_and_compare_all_runs_every_method(capsys):
    assert _cli.main(["solve", "rosenbrock"]) == 0
    out = capsys.readouterr().out
    rows = [ln.split()[0] for ln in out.splitlines() if ln.split() and ln.split()[0] in problems.get("rosenbrock").methods]
    assert rows[:4] == ["lm", "newton", "trust-exact", "lbfgs"]
    assert _cli.main(["solve", "rosenbrock", "--compare", "all"]) == 0
    out = capsys.readouterr().out
    rows = {ln.split()[0] for ln in out.splitlines() if ln.split()}
    assert set(problems.get("rosenbrock").methods) <= rows
