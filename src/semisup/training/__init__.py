"""Training: the one loop every method runs, what it keeps (checkpoints, curves), and its switches."""
