"""What U is: toy analytic landscapes (including Mueller-Brown), MLP and ConvNet (DeepFRAME)
potentials, the rescaled and Gaussian-prior wrappers, generators g(z) and the latent energy
U(g(z)) + |z|^2/2 of Co-Op maps, and spin-glass and Ising energies.

Every energy maps a batch ``(n, ...)`` to ``(n,)``."""
