"""Spin energies: the Sherrington-Kirkpatrick spin glass (thesis eq. 5.1) and the 2D Ising model
with an external field (eq. 4.8). States are batches of +-1 spins.

SK normalisation used throughout the book
-----------------------------------------
Eq. (5.1) writes ``U(s) = -(1/(T N)) sum_{i<k} J_ik s_i s_k`` with ``J_ik ~ N(0, 1/N)``. Read
literally (both 1/N factors) the energy would be O(1/N) per state and no temperature near 1
would be critical. The numbers the thesis quotes pin down a consistent reading:

* **Reported energy = energy per spin.** ``e(s) = H(s) / N`` with the extensive Hamiltonian
  ``H(s) = -sum_{i<k} J_ik s_i s_k`` and ``J_ik ~ N(0, 1/N)``. The ground state is then near
  Parisi's ``e_0 = -0.7633`` (about -0.73 to -0.76 at N = 100), and the GWL energy window
  [-0.8, -0.35] of Sec 5.2.1 is in these units. :meth:`SKModel.__call__` returns ``e(s)``.
* **Sampling temperature acts on the extensive energy.** Chains target
  ``exp(-H(s) / T)``, whose spin-glass transition is at ``T_c = 1`` -- the "critical
  temperature T_c = 1" of Sec 5.2.1. ``T = 0.1`` is then well inside the glassy phase.
* **AD distance = Hamming distance** ``d(s, s*) = #{i : s_i != s*_i}`` (half the L1 distance),
  so the Attraction-Diffusion density (4.6) for spins is ``exp(-(H(s)/T + alpha * d))``.
  One flip at a local minimum costs ``Delta H / T = 2 |h_i| / T`` (``h_i`` the local field, of
  order 0.1-1), i.e. 2-20 at ``T = 0.1``, against a magnetic gain of ``alpha = 1.35``: the two
  forces compete, which is why alpha = 1.35 sits in the critical range of the basin-count-vs-alpha
  curve (measured in ``notebooks/ch5_sk_spin_glass.ipynb``: on the seed-0 instance, 50 ADELM
  iterations with uniformly random proposals gave 46 basins at alpha = 1.35, 25 at 2 and 3 at 5;
  with the annealed proposals the notebook now uses and per-task AD seeds (ebmbook.parallel),
  35 at 0.3, 18 at 1.35, 17 at 2 and 1 at 5 -- fewer at weak alpha because annealed proposals
  often repeat a mode). With the per-spin energy in the
  Boltzmann factor a flip would cost only ~0.1 against a gain of 1.35, so every AD trial would
  succeed and the map would collapse to one basin.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def _as_numpy_spins(s) -> np.ndarray:
    if isinstance(s, torch.Tensor):
        s = s.detach().cpu().numpy()
    s = np.asarray(s)
    return s


class SKModel:
    """An N-spin SK spin glass (eq. 5.1) with symmetric couplings ``J`` (zero diagonal).

    Calling the model on a batch ``(n, N)`` of +-1 spins (torch or numpy) returns the energy per
    spin ``e(s) = -(1/N) sum_{i<k} J_ik s_i s_k`` with shape ``(n,)``; see the module docstring
    for the normalisation. :meth:`hamiltonian` gives the extensive ``H = N e``.
    """

    def __init__(self, J: np.ndarray):
        J = np.asarray(J, dtype=np.float64)
        if J.ndim != 2 or J.shape[0] != J.shape[1]:
            raise ValueError(f"J must be a square matrix, got shape {J.shape}")
        if not np.allclose(J, J.T):
            raise ValueError("J must be symmetric")
        if np.any(np.diag(J) != 0):
            raise ValueError("J must have a zero diagonal")
        self.J = np.ascontiguousarray(J)
        self._J_torch: torch.Tensor | None = None

    @classmethod
    def from_seed(cls, n: int, seed: int) -> "SKModel":
        """Couplings ``J_ik = J_ki ~ N(0, 1/n)`` drawn from ``numpy.random.default_rng(seed)``."""
        if not (isinstance(n, int) and n >= 2):
            raise ValueError(f"n must be an integer >= 2, got {n!r}")
        rng = np.random.default_rng(seed)
        upper = np.triu(rng.normal(0.0, 1.0 / math.sqrt(n), size=(n, n)), k=1)
        return cls(upper + upper.T)

    @property
    def n(self) -> int:
        return self.J.shape[0]

    def hamiltonian(self, s):
        """Extensive energy ``H(s) = -sum_{i<k} J_ik s_i s_k`` for a batch ``(n, N)``."""
        if isinstance(s, torch.Tensor):
            if self._J_torch is None or self._J_torch.device != s.device:
                self._J_torch = torch.as_tensor(self.J, device=s.device)
            sd = s.to(self._J_torch.dtype)
            return -0.5 * ((sd @ self._J_torch) * sd).sum(dim=1)
        s = np.asarray(s, dtype=np.float64)
        return -0.5 * np.einsum("bi,bi->b", s @ self.J, s)

    def __call__(self, s):
        """Energy per spin ``e(s) = H(s) / N`` (eq. 5.1), shape ``(batch,)``."""
        return self.hamiltonian(s) / self.n

    def local_field(self, s) -> np.ndarray:
        """``h_i = sum_k J_ik s_k`` for a numpy batch ``(n, N)``."""
        return np.asarray(s, dtype=np.float64) @ self.J

    def flip_cost(self, s) -> np.ndarray:
        """Change of ``H`` when spin i is flipped, ``2 s_i h_i``, shape ``(n, N)``."""
        s = np.asarray(s, dtype=np.float64)
        return 2.0 * s * (s @ self.J)


def random_spins(rng: np.random.Generator, n: int, N: int) -> np.ndarray:
    """``n`` uniformly random +-1 states of ``N`` spins (int8)."""
    return (2 * rng.integers(0, 2, size=(n, N)) - 1).astype(np.int8)


ONSAGER_TC = 2.0 / math.log(1.0 + math.sqrt(2.0))


def onsager_magnetisation(T) -> np.ndarray:
    """Spontaneous magnetisation per site of the infinite 2D Ising model with unit coupling:
    ``(1 - sinh(2/T)^-4)^(1/8)`` below ``T_c = 2/ln(1 + sqrt 2)``, zero above."""
    T = np.asarray(T, dtype=np.float64)
    x = 1.0 - np.sinh(2.0 / T) ** -4
    return np.where(T < ONSAGER_TC, np.clip(x, 0, None) ** 0.125, 0.0)


class IsingModel:
    """2D square-lattice Ising model with periodic boundaries and a field (eq. 4.8)::

        U_{T,H}(sigma) = -(1/T) sum_{<ij>} sigma_i sigma_j - H sum_i sigma_i

    The per-site coupling is 1, so the critical temperature is Onsager's
    ``T_c = 2 / ln(1 + sqrt 2) ~= 2.269``. The distribution is ``exp(-U)``. ``temperature`` and
    ``field`` may be scalars or per-state arrays of shape ``(batch,)``.
    """

    def __init__(self, temperature=1.0, field=0.0):
        self.temperature = temperature
        self.field = field

    @staticmethod
    def bond_sum(sigma: np.ndarray) -> np.ndarray:
        """``sum_{<ij>} sigma_i sigma_j`` over nearest-neighbour bonds, per state."""
        s = np.asarray(sigma, dtype=np.float64)
        return (s * np.roll(s, 1, axis=1)).sum(axis=(1, 2)) + \
            (s * np.roll(s, 1, axis=2)).sum(axis=(1, 2))

    def __call__(self, sigma) -> np.ndarray:
        s = np.asarray(sigma, dtype=np.float64)
        T = np.asarray(self.temperature, dtype=np.float64)
        H = np.asarray(self.field, dtype=np.float64)
        return -self.bond_sum(s) / T - H * s.sum(axis=(1, 2))
