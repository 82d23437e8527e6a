"""Figure functions: each takes an experiment Result and returns a matplotlib Figure."""
