"""How U is learned: Algorithm 1 (ML learning with Langevin negatives) and its optimiser
schedules (Adam, SGD with exponential decay to a floor, hybrid Adam -> SGD)."""
