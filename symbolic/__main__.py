"""``python -m ricci.symbolic``: a short demonstration on an embedded default problem.

It builds L2-regularised logistic regression as a matrix expression, prints its exact gradient and Hessian
in matrix notation, compiles all three into one function, evaluates it on seeded synthetic data, and checks
the result against central finite differences.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import ricci.symbolic as rs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ricci.symbolic", description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=500, help="number of samples (default 500)")
    parser.add_argument("--n", type=int, default=8, help="number of features (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--source", action="store_true", help="print the generated code")
    args = parser.parse_args(argv)
    if args.m < 1 or args.n < 1:
        parser.error("--m and --n must be positive")

    X = rs.Matrix("X", "m", "n")
    y = rs.Vector("y", "m")
    w = rs.Vector("w", "n")
    lam = rs.Scalar("lam")
    f = rs.sum(rs.softplus(-y * (X @ w))) + lam / 2 * (w @ w)
    start = time.perf_counter()
    g = rs.grad(f, w)
    H = rs.hessian(f, w)
    fn = rs.compile([f, g, H], name="logistic", sizes={"m": args.m, "n": args.n})
    build = time.perf_counter() - start
    print("f(w)      =", f)
    print("grad f    =", g)
    print("hessian f =", H)
    print(f"(differentiated, simplified and compiled in {build * 1e3:.1f} ms)")
    if args.source:
        print("\n" + fn.source)

    rng = np.random.default_rng(args.seed)
    Xa = rng.normal(size=(args.m, args.n))
    ya = np.where(Xa @ rng.normal(size=args.n) + 0.5 * rng.normal(size=args.m) > 0, 1.0, -1.0)
    wa = rng.normal(size=args.n) * 0.1
    data = dict(X=Xa, y=ya, lam=1e-2)
    fv, gv, Hv = fn(**data, w=wa)
    print(f"\nat a random w (m = {args.m}, n = {args.n}):  f = {fv:.6f}   |grad|_inf = {np.max(np.abs(gv)):.3e}")
    eig = np.linalg.eigvalsh(Hv)
    print(f"Hessian eigenvalues in [{eig[0]:.3e}, {eig[-1]:.3e}] (positive definite: {eig[0] > 0})")

    check = rs.check_derivatives(f, wrt=w, order=2, data={**data, "w": wa}, seed=args.seed)
    print("finite-difference check along random directions, at this w:")
    print(check)
    return 0 if check.passed else 1

if __name__ == "__main__":
    sys.exit(main())
