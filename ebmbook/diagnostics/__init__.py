"""What was learned: d_st / r_st statistics and their correlations, grid densities, KDE and
divergences on a grid, long-run checks and Lyapunov exponents."""
