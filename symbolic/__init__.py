"""ricci.symbolic: tensor calculus."""
