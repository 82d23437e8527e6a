"""How a state moves on an energy U: Langevin for continuous states, spin samplers for +-1
states, and the initialisers of Algorithm 1 (noise, data, persistent bank)."""
