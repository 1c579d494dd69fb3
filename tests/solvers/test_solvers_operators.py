"""The methods on derivatives given as operators (issue 10, item 6).

Each structured Hessian (dense, Gram plus a scaled identity, block diagonal, sparse, Kronecker, block) and each
structured Jacobian (dense, sparse, block, a scipy LinearOperator) is given to every method that accepts it, and
the run is compared with the same method given the dense matrix (the oracle): the same iterates to 1e-10 where
the two take the same steps in exact arithmetic, otherwise the same minimizer, which each problem knows in
closed form. Methods that factorize refuse an operator known only through products with a TypeError naming the
method and what to pass; the Jacobi preconditioner of trust-ncg / trust-krylov reaches the same minimizer with
fewer products where the Hessian's diagonal carries its ill-conditioning.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci.solvers import (
    BlockDiagonalOperator,
    BlockOperator,
    DenseOperator,
    DiagonalOperator,
    GramOperator,
    KroneckerOperator,
    Operator,
    ScaledIdentity,
    SparseOperator,
    least_squares,
    minimize,
)
from scipy.sparse.linalg import LinearOperator

N = 12
FACTORIZING = ("newton", "trust-exact", "dogleg")
KRYLOV = ("trust-ncg", "trust-krylov")
SAME_STEPS = ("newton", "dogleg", "trust-ncg", "trust-krylov")  # trust-exact: More-Sorensen's bracket differs


def _spd(rng, k, low=0.5, high=4.0):
    Q, _ = np.linalg.qr(rng.standard_normal((k, k)))
    return (Q * rng.uniform(low, high, k)) @ Q.T


def _symmetrize(A):
    return 0.5 * (A + A.T)


def structured_matrices(rng):
    """name -> (operator, dense array) for symmetric positive definite matrices of size N = 12."""
    out = {"dense": _symmetrize(_spd(rng, N))}
    X, d, lam = rng.standard_normal((8, N)), rng.uniform(0.5, 2.0, 8), 0.7  # m < n: the Woodbury solve
    out["gram+identity"] = (GramOperator(X, d) + ScaledIdentity(N, lam), X.T @ (d[:, None] * X) + lam * np.eye(N))
    blocks = np.stack([_symmetrize(_spd(rng, 3)) for _ in range(4)])
    out["block_diagonal"] = BlockDiagonalOperator(blocks)
    band = sp.diags_array([np.full(N - 1, -0.9), np.full(N, 2.5), np.full(N - 1, -0.9)], offsets=[-1, 0, 1])
    out["sparse"] = SparseOperator(sp.csr_array(band))
    out["kronecker"] = KroneckerOperator(_symmetrize(_spd(rng, 3)), _symmetrize(_spd(rng, 4)))
    corner = BlockDiagonalOperator(np.stack([_symmetrize(_spd(rng, 2, 3.0, 5.0)) for _ in range(4)]))
    coupling = 0.3 * rng.standard_normal((8, 4))
    out["block"] = BlockOperator([[corner, DenseOperator(coupling)],
                                  [DenseOperator(coupling.T), DenseOperator(_symmetrize(_spd(rng, 4, 3.0, 5.0)))]])
    result = {}
    for name, value in out.items():
        if isinstance(value, tuple):
            result[name] = value
        elif isinstance(value, Operator):
            result[name] = (value, np.asarray(value.to_dense()))
        else:
            result[name] = (DenseOperator(value), value)
    return result


class KnownMinimum:
    """f(x) = 1/2 (x - x*)' A (x - x*) + c sum log cosh(x - x*): minimized at x* only (f is strictly convex),
    with Hessian A + c diag(sech^2(x - x*)), as an operator (``hess``) or dense (``hess_dense``). With c = 0 the
    Hessian operator is A's own, so that A's factorization is the one used (a Kronecker or a block operator
    plus a diagonal has no structured solve)."""

    def __init__(self, operator, dense, rng, c=1.5):
        self.A_op, self.A = operator, dense
        self.x_star = rng.standard_normal(N)
        self.c = c
        self.products = 0

    def fun(self, x):
        z = x - self.x_star
        return 0.5 * z @ self.A @ z + self.c * np.sum(np.logaddexp(z, -z) - np.log(2.0))

    def jac(self, x):
        z = x - self.x_star
        return self.A @ z + self.c * np.tanh(z)

    def _curvature(self, x):
        return self.c / np.cosh(x - self.x_star) ** 2

    def hess(self, x):
        return self.A_op + DiagonalOperator(self._curvature(x)) if self.c else self.A_op

    def hess_dense(self, x):
        return self.A + np.diag(self._curvature(x))

    def hess_linear_operator(self, x):
        H = self.hess_dense(x)
        return LinearOperator((N, N), matvec=lambda v: H @ v, rmatvec=lambda v: H @ v, dtype=np.float64)

    def hessp(self, x, p):
        self.products += 1
        return self.hess_dense(x) @ p


def run(problem, method, hess, x0, **options):
    iterates = []
    res = minimize(problem.fun, x0, method=method, jac=problem.jac, hess=hess, callback=iterates.append,
                   options={"gtol": 1e-10, **options})
    return res, np.array(iterates)


MATRICES = structured_matrices(np.random.default_rng(20))
QUADRATIC = ("kronecker", "block")  # c = 0: their own factorizations (eigen, Schur complement) are used


@pytest.mark.parametrize("structure", sorted(MATRICES))
@pytest.mark.parametrize("method", FACTORIZING + KRYLOV)
def test_operator_hessian_agrees_with_the_dense_matrix(structure, method):
    rng = np.random.default_rng(1)
    operator, dense = MATRICES[structure]
    problem = KnownMinimum(operator, dense, rng, c=0.0 if structure in QUADRATIC else 1.5)
    x0 = problem.x_star + 3.0 * rng.standard_normal(N)
    ours, path = run(problem, method, problem.hess, x0)
    reference, reference_path = run(problem, method, problem.hess_dense, x0)
    assert ours.success and reference.success, (ours.message, reference.message)
    np.testing.assert_allclose(ours.x, problem.x_star, atol=1e-8)
    np.testing.assert_allclose(reference.x, problem.x_star, atol=1e-8)
    assert isinstance(ours.hess if method in FACTORIZING else problem.hess(ours.x), Operator)
    if method in SAME_STEPS:
        assert path.shape == reference_path.shape
        np.testing.assert_allclose(path, reference_path, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("method", KRYLOV)
def test_krylov_methods_take_a_linear_operator(method):
    """A scipy LinearOperator is known only through products: the Krylov methods use it (without the Jacobi
    preconditioner, which needs a diagonal) and take the steps they take on the dense matrix."""
    rng = np.random.default_rng(2)
    operator, dense = MATRICES["gram+identity"]
    problem = KnownMinimum(operator, dense, rng)
    x0 = problem.x_star + 3.0 * rng.standard_normal(N)
    ours, path = run(problem, method, problem.hess_linear_operator, x0)
    reference, reference_path = run(problem, method, problem.hess_dense, x0, preconditioner="none")
    assert ours.success and reference.success
    np.testing.assert_allclose(ours.x, problem.x_star, atol=1e-8)
    np.testing.assert_allclose(path, reference_path, rtol=1e-10, atol=1e-10)
    with pytest.raises(TypeError, match=f"method '{method}' with preconditioner='diagonal' needs the Hessian's "
                                        "diagonal.*MatvecOperator.*preconditioner='none'"):
        run(problem, method, problem.hess_linear_operator, x0, preconditioner="diagonal")


@pytest.mark.parametrize("method", FACTORIZING)
def test_factorizing_methods_refuse_a_products_only_hessian(method):
    problem = KnownMinimum(*MATRICES["dense"], np.random.default_rng(3))
    with pytest.raises(TypeError, match=f"method '{method}' factorizes the Hessian.*MatvecOperator.*known only "
                                        "through products.*trust-ncg"):
        run(problem, method, problem.hess_linear_operator, np.zeros(N))


def test_an_objective_with_hess_operator_is_asked_for_the_operator():
    """``hess_operator`` is used instead of ``hess`` (never called), and the result's hess is the operator."""
    problem = KnownMinimum(*MATRICES["gram+identity"], np.random.default_rng(4))
    calls = {"hess": 0, "hess_operator": 0}

    class Objective:
        fun, jac = staticmethod(problem.fun), staticmethod(problem.jac)

        def hess(self, x):
            calls["hess"] += 1
            return problem.hess_dense(x)

        def hess_operator(self, x):
            calls["hess_operator"] += 1
            return problem.hess(x)

    res = minimize(Objective(), np.zeros(N), method="newton", options={"gtol": 1e-10})
    assert res.success and calls["hess"] == 0 and calls["hess_operator"] == res.nhev >= 1
    assert isinstance(res.hess, Operator)
    np.testing.assert_allclose(res.hess.to_dense(), problem.hess_dense(res.x), atol=1e-12)
    np.testing.assert_allclose(res.x, problem.x_star, atol=1e-8)


def test_explicit_hess_overrides_hess_operator():
    problem = KnownMinimum(*MATRICES["dense"], np.random.default_rng(5))

    class Objective:
        fun, jac = staticmethod(problem.fun), staticmethod(problem.jac)

        def hess_operator(self, x):
            raise AssertionError("hess_operator must not be called when hess= is given")

    res = minimize(Objective(), np.zeros(N), method="trust-exact", hess=problem.hess_dense, options={"gtol": 1e-10})
    assert res.success and isinstance(res.hess, np.ndarray)


@pytest.mark.parametrize("method", ["newton", "trust-exact", "dogleg"])
def test_power_of_two_scaling_is_exact_on_operators(method):
    """f times 2^-700 is solved on 2^k f (the evaluator's exact scaling, applied to the operator as c * H): the
    same iterates as the unscaled f, for the methods whose steps do not depend on the units of f (CG's forcing
    term min(0.5, sqrt(||g||)) ||g|| does)."""
    problem = KnownMinimum(*MATRICES["gram+identity"], np.random.default_rng(6))
    tiny = 2.0 ** -700
    x0 = problem.x_star + 2.0
    _, path = run(problem, method, problem.hess, x0)
    iterates = []
    res = minimize(lambda x: tiny * problem.fun(x), x0, method=method, jac=lambda x: tiny * problem.jac(x),
                   hess=lambda x: tiny * problem.hess(x), callback=iterates.append, options={"gtol": 1e-10 * tiny})
    assert res.success
    np.testing.assert_allclose(np.array(iterates), path, rtol=1e-13, atol=1e-13)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shift=st.floats(-3.0, 3.0))
def test_newton_shift_schedule_on_an_indefinite_gram(seed, shift):
    """Algorithm 3.3 on a Gram operator with negative weights (indefinite): the factorization solves with the
    shift it reports, and the direction is a descent direction; the same as on the dense matrix when no shift
    is needed."""
    from array_api_compat import numpy as xnp
    from ricci.solvers._newton_step import newton_direction, shifted_factorization

    rng = np.random.default_rng(seed)
    X, d = rng.standard_normal((6, 5)), rng.uniform(-1.0, 2.0, 6)
    H = GramOperator(X, d, shift)
    dense = X.T @ (d[:, None] * X) + shift * np.eye(5)
    g = rng.standard_normal(5)
    factorization = shifted_factorization(xnp, H)
    y = factorization.solve(g)
    np.testing.assert_allclose((dense + factorization.shift * np.eye(5)) @ y, g, atol=1e-8 * np.abs(y).max())
    p, tau = newton_direction(xnp, H, g)
    assert g @ p < 0
    if tau == 0.0:
        np.testing.assert_allclose(p, -np.linalg.solve(dense, g), rtol=1e-8)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), radius=st.floats(0.01, 10.0), rows=st.integers(2, 9))
def test_more_sorensen_on_a_gauss_newton_operator(seed, radius, rows):
    """More-Sorensen on a Gram operator J'J (fewer rows than columns: singular, Woodbury solves) with the
    positive semidefinite bounds 0 <= lambda_1, ||B|| <= tr(B): Theorem 4.1 of Nocedal & Wright (2006) holds,
    (B + lam I) p = -g with lam (radius - ||p||) = 0, to More-Sorensen's accuracy k_easy."""
    from array_api_compat import numpy as xnp
    from ricci.solvers._more_sorensen import more_sorensen

    rng = np.random.default_rng(seed)
    J = rng.standard_normal((rows, 6))
    g = J.T @ rng.standard_normal(rows) + 1e-3 * rng.standard_normal(6)
    sol = more_sorensen(xnp, GramOperator(J), g, radius, k_easy=1e-10, positive_semidefinite=True)
    p, lam = sol.step, sol.multiplier
    scale = max(1.0, np.abs(J.T @ J).max(), np.abs(g).max())
    assert lam >= 0 and np.linalg.norm(p) <= radius * (1 + 1e-8)
    np.testing.assert_allclose((J.T @ J + lam * np.eye(6)) @ p, -g, atol=1e-6 * scale * max(1.0, radius))
    assert lam * (radius - np.linalg.norm(p)) <= 1e-6 * scale * radius


class BadlyScaled:
    """f(x) = 1/2 (x - x*)' S C S (x - x*) + sum log cosh(x - x*) with C of condition 10 and S = diag(s), s over
    four decades: the Hessian's diagonal carries the ill-conditioning (the Jacobi preconditioner's case)."""

    def __init__(self, n=60, seed=7):
        rng = np.random.default_rng(seed)
        Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        C = (Q * np.geomspace(1.0, 10.0, n)) @ Q.T
        s = np.logspace(-2, 2, n)
        self.A = _symmetrize(s[:, None] * C * s[None, :])
        self.x_star = rng.standard_normal(n)
        self.products = 0

    def fun(self, x):
        z = x - self.x_star
        return 0.5 * z @ self.A @ z + np.sum(np.logaddexp(z, -z) - np.log(2.0))

    def jac(self, x):
        z = x - self.x_star
        return self.A @ z + np.tanh(z)

    def hess(self, x):
        return DenseOperator(self.A, symmetric=True) + DiagonalOperator(1.0 / np.cosh(x - self.x_star) ** 2)

    def hessp(self, x, p):
        self.products += 1
        return self.hess(x).matvec(p)


@pytest.mark.parametrize(("method", "chosen"), [("trust-ncg", "diagonal"), ("trust-krylov", "diagonal"),
                                                ("trust-ncg", "factorization")])
def test_preconditioners_save_products(method, chosen):
    """The same minimizer with fewer Hessian-vector products (counted at hessp; the diagonal, or the lagged
    factorization, comes from hess)."""
    counts = {}
    for preconditioner in ("none", chosen):
        problem = BadlyScaled()
        res = minimize(problem.fun, np.zeros(problem.A.shape[0]), method=method, jac=problem.jac, hess=problem.hess,
                       hessp=problem.hessp, options={"gtol": 1e-8, "preconditioner": preconditioner})
        assert res.success, res.message
        np.testing.assert_allclose(res.x, problem.x_star, atol=1e-8)
        counts[preconditioner] = problem.products
    assert counts[chosen] <= counts["none"] / 3, counts


def test_lagged_factorization_on_a_rotated_ill_conditioning():
    """Where the diagonal is nearly constant (A = Q diag(geomspace(1, 1e4)) Q', Q random) the Jacobi
    preconditioner cannot help, the lagged factorization of the Hessian can: a few products per subproblem."""
    rng = np.random.default_rng(13)
    Q, _ = np.linalg.qr(rng.standard_normal((60, 60)))
    problem = KnownMinimum(DenseOperator((Q * np.geomspace(1.0, 1e4, 60)) @ Q.T, symmetric=True), None, rng)
    problem.A = problem.A_op.A
    problem.x_star = rng.standard_normal(60)
    counts = {}
    for preconditioner in ("none", "diagonal", "factorization"):
        problem.products = 0
        res = minimize(problem.fun, np.zeros(60), method="trust-ncg", jac=problem.jac, hess=problem.hess,
                       hessp=problem.hessp, options={"gtol": 1e-8, "preconditioner": preconditioner})
        assert res.success, res.message
        np.testing.assert_allclose(res.x, problem.x_star, atol=1e-8)
        counts[preconditioner] = problem.products
    assert counts["diagonal"] > counts["none"] / 3 and counts["factorization"] <= counts["none"] / 5, counts


def test_lagged_factorization_is_trust_ncg_s_and_needs_a_factorizable_hessian():
    problem = KnownMinimum(*MATRICES["dense"], np.random.default_rng(14))
    with pytest.raises(ValueError, match="option 'preconditioner' of method 'trust-krylov' must be 'auto', "
                                         "'diagonal' or 'none'; got 'factorization'"):
        run(problem, "trust-krylov", problem.hess, np.zeros(N), preconditioner="factorization")
    with pytest.raises(TypeError, match="method 'trust-ncg' with preconditioner='factorization' needs a Hessian it "
                                        "can factorize.*MatvecOperator"):
        run(problem, "trust-ncg", problem.hess_linear_operator, np.zeros(N), preconditioner="factorization")


def test_jacobi_on_a_diagonal_hessian_needs_one_product_per_interior_step():
    """With B diagonal the preconditioned B is a multiple of the identity: CG is exact after one product."""
    from array_api_compat import numpy as xnp
    from ricci.solvers._trust_region import jacobi_scaling, steihaug_subproblem

    rng = np.random.default_rng(8)
    b = rng.uniform(1.0, 100.0, 20)
    g = rng.standard_normal(20)

    class Model:
        xp = xnp

        def __init__(self):
            self.g, self.products = g, 0

        def hessp(self, v):
            self.products += 1
            return b * v

        def diagonal(self, required):
            return b

    model = Model()
    step = steihaug_subproblem(None, "required").solve(model, radius=1e6)
    assert model.products == 1 and not step.hits_boundary
    np.testing.assert_allclose(step.step, -g / b, rtol=1e-12)
    scaling = jacobi_scaling(xnp, b)
    assert step.length == pytest.approx(np.linalg.norm(step.step / scaling), rel=1e-12)


def test_auto_preconditioner_only_where_the_diagonal_is_free():
    """"auto": on for hess without hessp (products are the operator's anyway), off when hessp is given beside a
    dense hess (its diagonal would cost an evaluation of H per iteration)."""
    problem = BadlyScaled()
    calls = {"hess": 0}

    def hess(x):
        calls["hess"] += 1
        return problem.hess(x)

    res = minimize(problem.fun, np.zeros(60), method="trust-ncg", jac=problem.jac, hess=hess, hessp=problem.hessp)
    assert res.success and calls["hess"] == 0
    res = minimize(problem.fun, np.zeros(60), method="trust-ncg", jac=problem.jac, hess=hess)
    assert res.success and calls["hess"] == res.nhev >= 1
    with pytest.raises(TypeError, match="preconditioner='diagonal' needs the Hessian: pass hess=.*only hessp was given"):
        minimize(problem.fun, np.zeros(60), method="trust-ncg", jac=problem.jac, hessp=problem.hessp,
                 options={"preconditioner": "diagonal"})
    with pytest.raises(ValueError, match="option 'preconditioner' must be 'auto' or 'diagonal' or 'factorization' "
                                         "or 'none'"):
        minimize(problem.fun, np.zeros(60), method="trust-ncg", jac=problem.jac, hess=hess,
                 options={"preconditioner": "jacobi"})


@pytest.mark.parametrize("structure", ["dense", "gram+identity"])
def test_auto_preconditioner_with_hess_operator_and_hessp(structure):
    """An object with hess_operator and hessp: "auto" preconditions with a structured operator's diagonal at
    every iteration, but stops asking for an operator that turns out dense (after the first iteration)."""
    problem = KnownMinimum(*MATRICES[structure], np.random.default_rng(15))
    calls = {"hess_operator": 0}

    class Objective:
        fun, jac, hessp = staticmethod(problem.fun), staticmethod(problem.jac), staticmethod(problem.hessp)

        def hess_operator(self, x):
            calls["hess_operator"] += 1
            return problem.hess(x) if structure != "dense" else DenseOperator(problem.hess_dense(x), symmetric=True)

    res = minimize(Objective(), np.zeros(N), method="trust-ncg", options={"gtol": 1e-10})
    assert res.success
    np.testing.assert_allclose(res.x, problem.x_star, atol=1e-8)
    if structure == "dense":
        assert calls["hess_operator"] == 1
    else:
        assert calls["hess_operator"] >= res.nit - 1 >= 2


# ---- least squares on Jacobian operators --------------------------------------------------------------------
class ZeroResidual:
    """r(x) = [A (x - x*); c (x - x*)^2] (m = 20 + 12 residuals, n = 12): cost 0 at x* only, with Jacobian
    [A; 2 c diag(x - x*)] as a block operator, a sparse matrix, a LinearOperator or a dense array."""

    def __init__(self, rng, c=0.5):
        A = sp.random_array((20, N), density=0.3, random_state=np.random.default_rng(rng.integers(2**32)))
        self.A = sp.csr_array(A + sp.eye_array(20, N))
        self.x_star = rng.standard_normal(N)
        self.c = c

    def residual(self, x):
        z = x - self.x_star
        return np.concatenate([self.A @ z, self.c * z * z])

    def _lower(self, x):
        return 2.0 * self.c * (x - self.x_star)

    def jac_dense(self, x):
        return np.vstack([self.A.toarray(), np.diag(self._lower(x))])

    def jac_sparse(self, x):
        return sp.vstack([self.A, sp.diags_array(self._lower(x))]).tocsr()

    def jac_block(self, x):
        return BlockOperator([[SparseOperator(self.A)], [DiagonalOperator(self._lower(x))]])

    def jac_linear_operator(self, x):
        J = self.jac_dense(x)
        return LinearOperator(J.shape, matvec=lambda v: J @ v, rmatvec=lambda u: J.T @ u, dtype=np.float64)


JACOBIANS = ("jac_dense", "jac_sparse", "jac_block", "jac_linear_operator")


@pytest.mark.parametrize("form", JACOBIANS)
@pytest.mark.parametrize("method", ["lm", "gauss-newton"])
def test_jacobian_operators_reach_the_known_minimizer(form, method):
    rng = np.random.default_rng(9)
    problem = ZeroResidual(rng)
    x0 = problem.x_star + rng.standard_normal(N)
    iterates, reference_iterates = [], []
    ours = least_squares(problem.residual, x0, jac=getattr(problem, form), method=method, callback=iterates.append,
                         ftol=None, xtol=None, gtol=None, optimality_tol=1e-12)
    reference = least_squares(problem.residual, x0, jac=problem.jac_dense, method=method,
                              callback=reference_iterates.append, ftol=None, xtol=None, gtol=None,
                              optimality_tol=1e-12)
    assert ours.success and reference.success, (ours.message, reference.message)
    np.testing.assert_allclose(ours.x, problem.x_star, atol=1e-7)
    assert ours.cost <= 1e-20
    np.testing.assert_allclose(ours.grad, reference.grad, atol=1e-11)
    if form != "jac_dense":
        assert not isinstance(ours.jac, np.ndarray)
    if method == "gauss-newton" and form in ("jac_sparse", "jac_block"):  # the same factorized steps
        np.testing.assert_allclose(np.array(iterates), np.array(reference_iterates), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("method", ["lm", "gauss-newton"])
def test_x_scale_on_a_structured_jacobian(method):
    """Column scaling in the Jacobian's structure (block of sparse and diagonal) agrees with the dense run."""
    rng = np.random.default_rng(10)
    problem = ZeroResidual(rng)
    x0 = problem.x_star + rng.standard_normal(N)
    scale = np.logspace(-1, 1, N)
    runs = [least_squares(problem.residual, x0, jac=jac, method=method, x_scale=scale, ftol=None, xtol=None,
                          gtol=None, optimality_tol=1e-12) for jac in (problem.jac_block, problem.jac_dense)]
    for res in runs:
        assert res.success, res.message
        np.testing.assert_allclose(res.x, problem.x_star, atol=1e-7)


def test_an_object_with_jac_operator_is_asked_for_the_operator():
    problem = ZeroResidual(np.random.default_rng(11))
    calls = {"jacobian": 0, "jac_operator": 0}

    class Residuals:
        residual = staticmethod(problem.residual)

        def jacobian(self, x):
            calls["jacobian"] += 1
            return problem.jac_dense(x)

        def jac_operator(self, x):
            calls["jac_operator"] += 1
            return problem.jac_block(x)

    res = least_squares(Residuals(), problem.x_star + 1.0, method="lm")
    assert res.success and calls["jacobian"] == 0 and calls["jac_operator"] == res.njev
    assert isinstance(res.jac, BlockOperator)
    np.testing.assert_allclose(res.x, problem.x_star, atol=1e-7)


def test_least_squares_refuses_what_is_not_a_jacobian():
    problem = ZeroResidual(np.random.default_rng(12))
    with pytest.raises(TypeError, match="jac must return an array of shape.*Operator.*LinearOperator"):
        least_squares(problem.residual, np.zeros(N), jac=lambda x: {"J": 1})
    with pytest.raises(ValueError, match=r"jac must return an operator of shape \(32, 12\); got SparseOperator"):
        least_squares(problem.residual, np.zeros(N), jac=lambda x: SparseOperator(problem.A))


# ---- matrix factorization: Schur-complement steps (exact and iterative) against dense ones ------------------
class Factorization:
    """f(U, V) = 1/2 sum over observed (i, j) of (u_i . v_j - T_ij)^2 + c^2/2 (|U|^2 + |V|^2), x = [vec U; vec V]
    (rows of U, then rows of V). Residual r = [u_i . v_j - T_ij; c vec U; c vec V] with the block Jacobian
    [[J_U, J_V], [c I, 0], [0, c I]]; the Hessian [[diag(H_U,i), C], [C', diag(H_V,j)]] with blocks
    H_U,i = sum_j v_j v_j' + c^2 I and C_ij = v_j u_i' + r_ij I, as operators or dense."""

    def __init__(self, rng, users=9, items=7, rank=2, observed=0.6, c=0.1):
        mask = rng.random((users, items)) < observed
        mask[np.arange(users), rng.integers(items, size=users)] = True
        mask[rng.integers(users, size=items), np.arange(items)] = True
        self.I, self.J = np.nonzero(mask)
        self.T = rng.standard_normal((users, rank)) @ rng.standard_normal((rank, items))
        self.m, self.n, self.r, self.c = users, items, rank, c

    def split(self, x):
        k = self.m * self.r
        return x[:k].reshape(self.m, self.r), x[k:].reshape(self.n, self.r)

    def entries(self, x):
        U, V = self.split(x)
        return np.sum(U[self.I] * V[self.J], axis=1) - self.T[self.I, self.J]

    def residual(self, x):
        return np.concatenate([self.entries(x), self.c * x])

    def fun(self, x):
        return 0.5 * float(self.residual(x) @ self.residual(x))

    def jac(self, x):
        return self.jac_dense(x).T @ self.residual(x)

    def _jacobian_blocks(self, x):
        U, V = self.split(x)
        r, k = self.r, self.I.size
        rows = np.repeat(np.arange(k), r)
        JU = sp.csr_array((V[self.J].ravel(), (rows, (self.I[:, None] * r + np.arange(r)).ravel())), (k, self.m * r))
        JV = sp.csr_array((U[self.I].ravel(), (rows, (self.J[:, None] * r + np.arange(r)).ravel())), (k, self.n * r))
        return JU, JV

    def jac_block(self, x):
        JU, JV = self._jacobian_blocks(x)
        return BlockOperator([[SparseOperator(JU), SparseOperator(JV)], [ScaledIdentity(JU.shape[1], self.c), None],
                              [None, ScaledIdentity(JV.shape[1], self.c)]])

    def jac_dense(self, x):
        return self.jac_block(x).to_dense()

    def hess(self, x):
        U, V = self.split(x)
        r, e = self.r, self.entries(x)
        HU = np.zeros((self.m, r, r))
        HV = np.zeros((self.n, r, r))
        np.add.at(HU, self.I, V[self.J][:, :, None] * V[self.J][:, None, :])
        np.add.at(HV, self.J, U[self.I][:, :, None] * U[self.I][:, None, :])
        blocks = V[self.J][:, :, None] * U[self.I][:, None, :] + e[:, None, None] * np.eye(r)  # v_j u_i' + r_ij I
        C = sp.bsr_array((blocks, self.J, np.searchsorted(self.I, np.arange(self.m + 1))),
                         shape=(self.m * r, self.n * r)).tocsr()
        eye = self.c ** 2 * np.eye(r)
        return BlockOperator([[BlockDiagonalOperator(HU + eye), SparseOperator(C)],
                              [SparseOperator(C.T.tocsr()), BlockDiagonalOperator(HV + eye)]], True)

    def hess_dense(self, x):
        return self.hess(x).to_dense()


@pytest.fixture
def schur_everywhere(monkeypatch):
    """The Schur-complement paths at test sizes: no dense cutoffs (DENSE_BELOW, DENSE_BYTES), the iterative
    route from any size."""
    from ricci.solvers import _op_block, _op_schur

    monkeypatch.setattr(_op_block, "DENSE_BELOW", 0)
    monkeypatch.setattr(_op_block, "DENSE_BYTES", 0)
    monkeypatch.setattr(_op_schur, "ITERATIVE_ABOVE", 0)


def test_factorization_hessian_operator_is_the_dense_hessian():
    rng = np.random.default_rng(3)
    problem = Factorization(rng)
    x = rng.standard_normal(problem.m * problem.r + problem.n * problem.r)
    h, e = 1e-6, rng.standard_normal(x.size)
    fd = (problem.jac(x + h * e) - problem.jac(x - h * e)) / (2 * h)  # the finite-difference Hessian-vector product
    np.testing.assert_allclose(problem.hess(x).matvec(e), fd, rtol=1e-6, atol=1e-6)
    fd_grad = (problem.fun(x + h * e) - problem.fun(x - h * e)) / (2 * h)
    assert abs(fd_grad - problem.jac(x) @ e) <= 1e-6 * max(1.0, abs(fd_grad))


@pytest.mark.parametrize("route", ["exact", "iterative"])
@pytest.mark.parametrize("method", ["lm", "gauss-newton"])
def test_schur_least_squares_steps_equal_the_dense_steps_on_a_factorization(monkeypatch, method, route):
    from ricci.solvers import _gauss_newton, _op_block, _op_schur

    monkeypatch.setattr(_op_block, "DENSE_BELOW", 0)
    monkeypatch.setattr(_op_block, "DENSE_BYTES", 0)
    monkeypatch.setattr(_op_schur, "ITERATIVE_ABOVE", 0 if route == "iterative" else 10**9)
    # the routes compared, not the tolerance: Gauss-Newton's CG solves to 1e-4 by default (GAUSS_NEWTON_RTOL)
    monkeypatch.setattr(_gauss_newton, "GAUSS_NEWTON_RTOL", 1e-12)
    rng = np.random.default_rng(11)
    problem = Factorization(rng)
    x0 = rng.standard_normal(problem.m * problem.r + problem.n * problem.r)
    paths = {}
    for form in ("jac_block", "jac_dense"):
        iterates = []
        res = least_squares(problem.residual, x0, jac=getattr(problem, form), method=method, max_nfev=8,
                            callback=iterates.append)
        paths[form] = (res, np.array(iterates))
    (ours, path), (reference, reference_path) = paths["jac_block"], paths["jac_dense"]
    assert path.shape == reference_path.shape and path.shape[0] >= 3
    np.testing.assert_allclose(path, reference_path, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(ours.cost, reference.cost, rtol=1e-9)


@pytest.mark.parametrize("method", ["newton", "dogleg", "trust-exact"])
def test_schur_newton_steps_equal_the_dense_steps_on_a_factorization(schur_everywhere, method):
    """Newton and dogleg take the dense run's steps (conjugate gradients on the Schur complement to 1e-10);
    trust-exact's More-Sorensen bracket starts from other spectral bounds for a structured B (module
    docstring of _more_sorensen), so its steps differ: it reaches the dense run's minimizer."""
    rng = np.random.default_rng(5)
    problem = Factorization(rng)
    x0 = rng.standard_normal(problem.m * problem.r + problem.n * problem.r)
    options = {"maxiter": 6} if method != "trust-exact" else {"maxiter": 500, "gtol": 1e-9}
    ours, path = run(problem, method, problem.hess, x0, **options)
    reference, reference_path = run(problem, method, problem.hess_dense, x0, **options)
    if method == "trust-exact":
        assert ours.success and reference.success  # f(UQ, VQ) = f(U, V) for orthogonal Q: compare U V' and f
        (U, V), (U_ref, V_ref) = problem.split(ours.x), problem.split(reference.x)
        np.testing.assert_allclose(U @ V.T, U_ref @ V_ref.T, atol=1e-6)
        np.testing.assert_allclose(ours.fun, reference.fun, rtol=1e-10)
    else:
        assert path.shape == reference_path.shape
        np.testing.assert_allclose(path, reference_path, rtol=1e-6, atol=1e-6)
    assert ours.fun <= problem.fun(x0)


def test_trust_ncg_with_the_block_jacobi_schur_preconditioner_reaches_the_dense_minimizer(schur_everywhere):
    """On the factorization's Hessian, where the exact preconditioner would form the Schur complement onto V,
    trust-ncg's 'factorization' preconditioner is the block elimination with S's block diagonal: it reaches
    the same stationary point as trust-ncg with the dense Hessian and its exact factorization, and needs fewer
    products than no preconditioner."""
    from ricci.solvers import BlockOperator

    rng = np.random.default_rng(5)
    problem = Factorization(rng)
    x0 = rng.standard_normal(problem.m * problem.r + problem.n * problem.r)
    H = problem.hess(x0)
    large = float(np.abs(problem.hess_dense(x0)).sum(axis=1).max())  # above the spectrum (Gershgorin)
    assert isinstance(H, BlockOperator) and H.preconditioner(large).method == "block-jacobi-schur"
    products, results = {}, {}
    for name, hess, preconditioner in [("structured", problem.hess, "factorization"),
                                       ("dense", problem.hess_dense, "factorization"),
                                       ("none", problem.hess, "none")]:
        count = [0]

        def hessp(x, p, hess=hess):
            count[0] += 1
            return np.asarray(hess(x) @ p)

        res = minimize(problem.fun, x0, method="trust-ncg", jac=problem.jac, hess=hess, hessp=hessp,
                       options={"gtol": 1e-9, "maxiter": 500, "preconditioner": preconditioner})
        assert res.success, (name, res.message)
        products[name], results[name] = count[0], res
    (U, V), (U_ref, V_ref) = problem.split(results["structured"].x), problem.split(results["dense"].x)
    np.testing.assert_allclose(U @ V.T, U_ref @ V_ref.T, atol=1e-6)
    np.testing.assert_allclose(results["structured"].fun, results["dense"].fun, rtol=1e-9)
    assert products["structured"] < products["none"], products


@pytest.mark.parametrize("method", ["lm", "gauss-newton"])
def test_a_small_block_jacobian_takes_the_dense_route_and_the_dense_steps(method):
    """A two-hidden-layer MLP's residual Jacobian is a BlockOperator of a few KB: it densifies once per point
    (_op_block.DENSE_BYTES) and least squares then takes exactly the steps it takes with the dense Jacobian."""
    from ricci import problems
    from ricci.solvers import BlockOperator, least_squares

    p = problems.get("mlp", hidden=(5, 3))
    x0 = p.start()
    J = p.residual.jac_operator(x0)
    assert isinstance(J, BlockOperator) and J.small
    paths = {}
    for form, jac in (("block", p.residual.jac_operator), ("dense", p.residual.jac)):
        iterates = []
        res = least_squares(p.residual.fun, x0, jac=jac, method=method, max_nfev=15, callback=iterates.append)
        paths[form] = (res, np.array(iterates))
    (ours, path), (reference, reference_path) = paths["block"], paths["dense"]
    assert path.shape == reference_path.shape and path.shape[0] >= 3
    np.testing.assert_allclose(path, reference_path, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(ours.cost, reference.cost, rtol=1e-12)
