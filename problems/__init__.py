"""ricci.problems: the problem library (see DESIGN.md)."""
