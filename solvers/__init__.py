"""ricci.solvers: second-order minimization on any array-API library (see DESIGN.md)."""
