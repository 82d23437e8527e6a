"""What U is: toy analytic landscapes, MLP and ConvNet (DeepFRAME) potentials, the rescaled and
Gaussian-prior wrappers, and (in later modules) spin-glass and Ising energies.

Every energy maps a batch ``(n, ...)`` to ``(n,)``."""
