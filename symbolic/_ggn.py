"""Objectives of the form f(x) = L(z(x)) + P(x), and their generalized Gauss-Newton model.

``GaussNewton(loss, (Z, z), wrt, data, penalty=P)`` takes the loss L written in a placeholder variable Z for the
model output, the output's expression z(x) separately, and an optional penalty P(x). It is an
:class:`~ricci.symbolic.Objective` of the composed expression f = L[Z := z] + P (``fun``/``jac``/``hess``/
``hessp``/``hess_operator`` are those of the plain Objective of that expression), and adds the generalized
Gauss-Newton matrix (Schraudolph, "Fast curvature matrix-vector products for second-order gradient descent",
Neural Computation 14(7), 2002):

    G(x) = J(x)' H_L(z(x)) J(x) + d2P/dx2,    J = dz/dx,  H_L = d2L/dZ2,

which drops from the Hessian of f the terms sum_i dL/dz_i d2z_i/dx2 and is positive semidefinite when L and P
are convex. G equals the Hessian of f where the loss gradient dL/dz vanishes (a squared loss at zero
residual) or where z is affine in x (logistic and softmax regression, for which G is the Hessian).

The three parts are compiled separately, from the expressions the user wrote: ``output``, an
:class:`~ricci.symbolic.LeastSquares` of z over ``wrt`` whose ``jac_operator`` is J in the structure the
Jacobian plan finds; ``loss``, an :class:`~ricci.symbolic.Objective` of L over the flattened Z whose
``hess_operator`` is H_L (a ``DiagonalOperator`` for an element-wise loss, ``diag(P) - block diag(p_i p_i')``
for softmax cross-entropy); ``penalty``, an Objective of P over the variables it contains. ``ggn_operator(x)``
composes them (``_ggn_operator.congruence``), ``ggn(x)`` is its dense form and ``ggnp(x, v)`` its product.

Why a class of its own rather than an ``Objective(..., model=...)`` option: the loss and the output are two
expressions with a placeholder between them, which an Objective of one expression does not have, and the
parts (J, H_L) are objects with their own kernels and caches; a subclass keeps every Objective method and
adds three, and ``minimize(obj.fun, x0, jac=obj.jac, hess=obj.ggn_operator, method="newton")`` uses G today.
"""
from __future__ import annotations

from ._build import as_expr
from ._calculus import resolve_variable, variables
from ._dims import dim_value, shape_str
from ._objective import LeastSquares, Objective
from ._substitute import substitute

_WHAT = "GaussNewton"

#: ``GaussNewton.prefers_products`` holds where the output's Jacobian has dense blocks computed at each point
#: of more entries than this (2^22, 32 MiB in float64). Measured on the softmax MLP of scikit-learn's digits
#: (1797 rows, 10 classes, 1210 weights; a 17970 x 1210 Jacobian, 21.7 million entries): forming G took 1.8 s
#: per point, a product through the Jacobian's derivatives 0.9 ms; on the 442-row diabetes MLP (85,000
#: entries) G forms in ms.
HESSIAN_FREE_ENTRIES = 1 << 22


def _names(expr) -> set:
    return {v.name for v in variables(expr)}


def _diagonal_values(H):
    """The diagonal of H when H is diagonal by type (a scaled identity, a diagonal, or a block operator of
    those with zero off-diagonal blocks), else None."""
    from ricci.solvers import BlockOperator, DiagonalOperator, ScaledIdentity

    if isinstance(H, (DiagonalOperator, ScaledIdentity)):
        return H.diagonal()
    if isinstance(H, BlockOperator) and H.row_sizes == H.col_sizes and all(
            (b is None) if i != j else isinstance(b, (DiagonalOperator, ScaledIdentity))
            for i, row in enumerate(H.blocks) for j, b in enumerate(row)):
        return H.diagonal()
    return None


class GaussNewton(Objective):
    """f(x) = L(z(x)) + P(x) with its exact derivatives and its generalized Gauss-Newton matrix (module docs).

    Arguments:
        loss: a scalar expression in the placeholder Z (and data), e.g. ``rs.sum(rs.softplus(Z)) - rs.sum(Y * Z)``.
        output: the pair ``(Z, z)``: the placeholder (a variable of ``loss``, or its name) and the output's
            expression in the variables ``wrt`` (and data), with as many axes as Z, e.g. ``X @ W + 1 b'``.
        wrt, data, sizes, like: as for :class:`~ricci.symbolic.Objective` (data of all three expressions).
        penalty: an optional scalar expression P(x) added to f and to G with its own Hessian.

    Methods beyond Objective's: ``ggn_operator(x)`` (G as a ``ricci.solvers`` operator), ``ggn(x)`` (dense,
    (size, size)), ``ggnp(x, v)`` (G v). Attributes: ``placeholder`` (Z), ``model`` (z), ``loss_expr``,
    ``penalty_expr``, and the compiled parts ``output``, ``loss``, ``penalty`` (None without a penalty).
    """

    def __init__(self, loss, output, wrt, data=None, *, penalty=None, sizes=None, like=None, _derived=None):
        loss = as_expr(loss, f"{_WHAT}: loss")
        if loss.ndim != 0:
            raise ValueError(f"{_WHAT}: loss must be a scalar expression, got shape {shape_str(loss.shape)}")
        if not isinstance(output, (tuple, list)) or len(output) != 2:
            raise TypeError(f"{_WHAT}: output must be a pair (Z, z) of the loss's placeholder variable and the "
                            f"output's expression; got {type(output).__name__}")
        placeholder = resolve_variable(loss, output[0], f"{_WHAT}: output[0] (the placeholder)")
        if placeholder not in loss.variables:
            raise ValueError(f"{_WHAT}: the placeholder {placeholder.name} does not appear in the loss")
        model = as_expr(output[1], f"{_WHAT}: output[1] (the model output)")
        if model.ndim != placeholder.ndim:
            raise ValueError(f"{_WHAT}: the output has shape {shape_str(model.shape)} but the placeholder "
                             f"{placeholder.name} has shape {shape_str(placeholder.shape)} (the same number of axes "
                             "is needed)")
        if penalty is not None:
            penalty = as_expr(penalty, f"{_WHAT}: penalty")
            if penalty.ndim != 0:
                raise ValueError(f"{_WHAT}: penalty must be a scalar expression, got shape "
                                 f"{shape_str(penalty.shape)}")
        for what, expr in (("the output", model), ("the penalty", penalty)):
            if expr is not None and placeholder.name in _names(expr):
                raise ValueError(f"{_WHAT}: {what} uses the placeholder {placeholder.name}; it may appear in the "
                                 "loss only")
        wrt_names = {getattr(v, "name", v) for v in (wrt if isinstance(wrt, (list, tuple)) else [wrt])}
        if placeholder.name in wrt_names:
            raise ValueError(f"{_WHAT}: the placeholder {placeholder.name} stands for the output and cannot be "
                             "optimised (in wrt)")
        if placeholder.name in (data or {}):
            raise ValueError(f"{_WHAT}: the placeholder {placeholder.name} stands for the output and cannot be data")
        composed = substitute(loss, {placeholder: model})
        if penalty is not None:
            composed = composed + penalty
        super().__init__(composed, wrt, data, sizes=sizes, like=like, _derived=_derived)
        self.placeholder, self.model, self.loss_expr, self.penalty_expr = placeholder, model, loss, penalty
        self._build_parts()

    def _build_parts(self) -> None:
        """Compile the output z (a LeastSquares), the loss over Z and the penalty over its variables."""
        like = self.xp.zeros((1,), dtype=self.dtype, device=self.device)

        def data_of(expr):
            used = _names(expr)
            return {k: v for k, v in self.data.items() if k in used}

        self.output = LeastSquares(self.model, self.wrt, data_of(self.model), sizes=self.sizes, like=like)
        z_shape = tuple(dim_value(d, self.output.sizes) for d in self.model.shape)
        z_sizes = {d: s for d, s in zip(self.placeholder.shape, z_shape) if isinstance(d, str)}
        clash = {d: (self.sizes[d], s) for d, s in z_sizes.items() if d in self.sizes and self.sizes[d] != s}
        if clash:
            raise ValueError(f"{_WHAT}: the output has shape {z_shape} but the placeholder {self.placeholder.name} "
                             f"{shape_str(self.placeholder.shape)} is bound to other sizes: " + ", ".join(
                                 f"{d} = {a} (data) against {b} (output)" for d, (a, b) in clash.items()))
        self.loss = Objective(self.loss_expr, self.placeholder, data_of(self.loss_expr),
                              sizes={**self.sizes, **z_sizes}, like=like)
        if self.loss.shapes[0] != z_shape:
            raise ValueError(f"{_WHAT}: the output has shape {z_shape} but the loss binds the placeholder "
                             f"{self.placeholder.name} to shape {self.loss.shapes[0]}")
        self.penalty = None
        self._penalty_slots = ()
        if self.penalty_expr is not None:
            used = self.penalty_expr.variables
            present = [v for v in self.wrt if v in used]
            if present:
                self.penalty = Objective(self.penalty_expr, present, data_of(self.penalty_expr), sizes=self.sizes,
                                         like=like)
                self._penalty_slots = tuple(self.wrt.index(v) for v in present)

    # -- the generalized Gauss-Newton matrix ------------------------------------------------------------------
    def ggn_operator(self, x):
        """G(x) = J' H_L J + d2P/dx2 as a ``ricci.solvers`` operator (module docstring): a ``GramOperator`` (or
        J's own Gram structure) for an element-wise loss, a ``CongruenceOperator`` otherwise, plus the
        penalty's Hessian (a ``DiagonalOperator`` for lam/2 ||W||^2, zero on the variables it does not
        contain). ``ggn_operator(x).to_dense()`` equals ``ggn(x)``; kept with the point x."""
        hit = self._cached(x, "GGN_operator")
        if hit is not None:
            return hit
        from ._ggn_operator import (
            congruence,  # imports ricci.solvers, on first use only
        )

        x = self._check_x(x)
        J = self.output.jac_operator(x)
        H = self.loss.hess_operator(self.output.fun(x))
        G = congruence(H, J)
        if self.penalty is not None:
            G = G + self._penalty_hessian(x)
        self._store(x, GGN_operator=G)
        return G

    def ggn(self, x):
        """G(x) as a dense (size, size) array."""
        return self.ggn_operator(x).to_dense()

    def ggnp(self, x, v):
        """The product G(x) v (through the operator: J v, then H_L, then J')."""
        v = self.xp.asarray(self._check_x(v))
        return self.ggn_operator(x).matvec(v)

    def ggn_products(self, x):
        """G(x) as a ``ricci.solvers.MatvecOperator`` known only through its products, the Jacobian never
        formed (Schraudolph 2002; Martens, "Deep learning via Hessian-free optimization", ICML 2010):
        ``G v = J'(H_L (J v)) + H_P v`` with J v and J'u from the output's forward and reverse derivatives
        (``LeastSquares.jvp``/``vjp``), H_L the loss's Hessian operator at z(x) and H_P the penalty's. Each
        product costs about two passes of the model's arithmetic, where ``ggn_operator`` forms J (the
        residual size times the size of x) and J' H_L J once per point. For conjugate gradients on G
        (``minimize(method="ggn")`` with ``hessian_free``); equal to ``ggn_operator(x)`` in every product."""
        from ricci.solvers import MatvecOperator

        x = self.xp.asarray(self._check_x(x), copy=True)
        H = self.loss.hess_operator(self.output.fun(x))
        P = None if self.penalty is None else self._penalty_hessian(x)
        output = self.output

        def product(v):
            Gv = output.vjp(x, H.matvec(output.jvp(x, v)))
            return Gv if P is None else Gv + P.matvec(v)

        return MatvecOperator((self.size, self.size), product, product, dtype=self.dtype, symmetric=True,
                              like=self.xp.zeros((1,), dtype=self.dtype, device=self.device))

    @property
    def prefers_products(self) -> bool:
        """Whether products with G (``ggn_products``) are the better way to use it: the output's Jacobian has
        dense blocks computed at each point of more than HESSIAN_FREE_ENTRIES entries in all (a network's
        Jacobian over many rows), where forming them and J' H_L J costs seconds per point while a product
        costs two passes of the model. Blocks that are data as given do not count (the X of a logistic model:
        its G is the Gram X' diag(s) X, formed in one pass), and Dask data never prefer products (each product
        would be a pass over the data). The methods "ggn" and "ggn-lm" follow it unless told
        (``hessian_free``)."""
        from ._binding import is_dask
        from ._operator_plan import dense_entries

        made = self.__dict__.get("_prefers_products")
        if made is None:
            made = (dense_entries(self.output._jacobian_plan(), computed_only=True) > HESSIAN_FREE_ENTRIES
                    and not any(is_dask(v) for v in self.data.values()))
            self._prefers_products = made
        return made

    def _penalty_hessian(self, x):
        """The penalty's Hessian over all of x: the Hessian operator of P over the variables it contains,
        placed in their rows and columns (zero elsewhere). A diagonal one (lam I) stays a diagonal."""
        from ricci.solvers import (
            BlockOperator,
            DenseOperator,
            DiagonalOperator,
            ScaledIdentity,
        )

        p = self.penalty
        values = self.unpack(x)
        Hp = p.hess_operator(p.pack([values[v.name] for v in p.wrt]))
        slots = self._penalty_slots
        xp, like = self.xp, self.xp.zeros((1,), dtype=self.dtype, device=self.device)
        d = _diagonal_values(Hp)
        if d is not None:
            parts = [xp.zeros((c,), dtype=self.dtype, device=self.device) for c in self.counts]
            for k, slot in enumerate(slots):
                parts[slot] = d[p.offsets[k]:p.offsets[k] + p.counts[k]]
            return DiagonalOperator(xp.concat(parts) if len(parts) > 1 else parts[0])
        if len(slots) == len(self.wrt):
            return Hp
        if len(slots) == 1:
            inner = ((Hp,),)
        elif isinstance(Hp, BlockOperator) and Hp.row_sizes == tuple(p.counts) == Hp.col_sizes:
            inner = Hp.blocks
        else:
            inner = None
        if inner is not None:
            where = {slot: k for k, slot in enumerate(slots)}
            grid = [[inner[where[i]][where[j]] if i in where and j in where else
                     (ScaledIdentity(self.counts[i], 0.0, like) if i == j else None)
                     for j in range(len(self.wrt))] for i in range(len(self.wrt))]
            return BlockOperator(grid, symmetric=True)
        dense = xp.zeros((self.size, self.size), dtype=self.dtype, device=self.device)
        Hd = Hp.to_dense()
        for a, i in enumerate(slots):
            for b, j in enumerate(slots):
                dense[self.offsets[i]:self.offsets[i] + self.counts[i], self.offsets[j]:self.offsets[j] +
                      self.counts[j]] = Hd[p.offsets[a]:p.offsets[a] + p.counts[a], p.offsets[b]:p.offsets[b] +
                                           p.counts[b]]
        return DenseOperator(dense)

    # -- binding ------------------------------------------------------------------------------------------
    def with_data(self, data=None, *, like=None):
        """The same objective and model bound to other data (the parts are compiled again for the new data)."""
        given_data, sizes, given_like = self._given
        return GaussNewton(self.loss_expr, (self.placeholder, self.model), self.wrt,
                           given_data if data is None else data, penalty=self.penalty_expr, sizes=sizes,
                           like=given_like if like is None else like, _derived=self)

    def rebind(self, **values):
        """The same objective with data values replaced (see ``Objective.rebind``), in its parts too."""
        twin = super().rebind(**values)
        twin.__dict__.pop("_prefers_products", None)  # new data may be of another kind (Dask)
        for attr in ("output", "loss", "penalty"):
            part = getattr(self, attr)
            if part is not None:
                mine = {k: v for k, v in values.items() if k in part.data}
                setattr(twin, attr, part.rebind(**mine) if mine else part)
        return twin

    def __repr__(self):
        return (f"<ricci GaussNewton: L({self.placeholder.name}) = {self.loss_expr} with {self.placeholder.name} = "
                f"{self.model}" + (f", penalty {self.penalty_expr}" if self.penalty_expr is not None else "")
                + f"; x = [{', '.join(f'{v.name}{s}' for v, s in zip(self.wrt, self.shapes))}] ({self.size} entries)>")

