"""Attraction-Diffusion (thesis Sec 4.3, eq. 4.6) and local mode search.

An AD trial starts a local sampler at ``X0`` on the magnetised density

    p(X) ~ exp(-(U(X)/T + alpha * d(X, X*)))

with ``d`` the L2 norm (not squared) for continuous states and the Hamming distance for spins.
The trial *succeeds* when ``d <= delta`` and *fails* after ``improvement_limit`` steps (sweeps for
spins) without a new best distance. The barrier of a successful trial is the highest energy U on
its path, an upper bound of the minimax barrier. Many trials run as one batch.

With ``precision="bf16"`` a continuous trial evaluates U and grad U in bfloat16
(:mod:`ebmbook.energies.precision`; the magnetisation term, the states and the noise stay in
float32): the path is followed on the bf16 energies, the state where they peak is kept, and the
barrier reported is U at that state recomputed in float32, so it is a true energy on the path
(the peak may be missed by the bf16 rounding of U, a fraction of a percent of U).

The continuous local mode search, :func:`local_modes` (gradient descent), is the noiseless
Langevin kernel and lives in :mod:`ebmbook.sampling.descent`; it is re-exported here beside its
spin counterpart :func:`local_modes_spins`.

For spins the energy is the SK model's (see :mod:`ebmbook.energies.spin` for the normalisation:
``H/T`` in the density, energies reported per spin).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..sampling.descent import local_modes  # noqa: F401  (re-exported)
from ..energies.precision import check_precision
from ..sampling.langevin import LangevinParams, _per_chain, energy_and_grad, frozen_parameters
from ..sampling.langevin import init as langevin_init
from ..sampling.langevin import step as langevin_kernel
from ..sampling.rwm import RWMParams
from ..sampling.rwm import init as rwm_init
from ..sampling.rwm import step as rwm_kernel
from . import _kernels


@dataclass
class ADResult:
    """Per-trial outcome of a batch of AD trials.

    success: (B,) bool; barrier: (B,) max energy on the path (per spin for SK; meaningful where
    success); steps: (B,) steps (continuous) or sweeps (spins) taken; final_distance: (B,).
    path_energy / path_distance: (B, steps + 1) per-step traces when ``record=True`` (for spins:
    the highest energy within each sweep); else None. path_states: (B, n, ...) the states every
    ``record_states`` steps from the start (continuous AD only; a finished trial repeats its
    last state), with their step numbers in ``path_steps``; else None.
    """

    success: np.ndarray
    barrier: np.ndarray
    steps: np.ndarray
    final_distance: np.ndarray
    path_energy: np.ndarray | None = None
    path_distance: np.ndarray | None = None
    final: object = None
    path_states: object = None
    path_steps: np.ndarray | None = None


def _per_trial(v, B, name):
    a = np.broadcast_to(np.asarray(v, dtype=np.float64), (B,)).copy()
    if np.any(~np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"{name} must be finite and >= 0")
    return a


def attraction_diffusion_spins(model, starts: np.ndarray, targets: np.ndarray, *, temperature,
                               alpha, rng: np.random.Generator, delta: int = 0,
                               improvement_limit: int = 100, max_sweeps: int = 5000,
                               method: str = "gibbs", record: bool = False) -> ADResult:
    """A batch of AD trials on an SK glass (Algorithm 3 step 3a) with Gibbs or Metropolis sweeps.

    ``starts``, ``targets``: (B, N) +-1 states (a single (N,) target broadcasts). ``temperature``
    and ``alpha`` may be per-trial arrays. ``improvement_limit`` M and ``max_sweeps`` count full
    sweeps. Barriers are energies per spin.
    """
    S = np.ascontiguousarray(np.asarray(starts, dtype=np.int8))
    if S.ndim == 1:
        S = S[None]
    B, N = S.shape
    Tg = np.ascontiguousarray(np.broadcast_to(np.asarray(targets, dtype=np.int8), (B, N)))
    temps = _per_trial(temperature, B, "temperature")
    if np.any(temps <= 0):
        raise ValueError("temperature must be > 0")
    alphas = _per_trial(alpha, B, "alpha")
    if method not in ("gibbs", "metropolis"):
        raise ValueError(f"method must be 'gibbs' or 'metropolis', got {method!r}")
    out, trace = _kernels.run_ad_trials(
        model.J, _kernels.ADTrials(S, Tg, temps, alphas),
        _kernels.ADSettings(int(delta), int(improvement_limit), int(max_sweeps),
                            method == "metropolis"), rng, record=record)
    res = ADResult(success=out.success, barrier=out.barrier / N, steps=out.sweeps,
                   final_distance=out.final_distance)
    if record:
        n_points = int(out.sweeps.max()) + 1
        res.path_energy = trace.max_energy[:, :n_points] / N
        res.path_distance = trace.distance[:, :n_points]
    return res


class MagnetisedEnergy:
    """The AD energy of eq. (4.6) at temperature T: ``V(X) = U(X)/T + alpha ||X - X*||_2``, one
    target X* per chain. Langevin with noise 1 on V samples the magnetised density. ``alpha`` is
    a scalar or one value per chain (a ``(B,)`` tensor).

    ``precision`` other than fp32: U and grad U are evaluated in that precision
    (:func:`~ebmbook.sampling.langevin.energy_and_grad`) and :meth:`value_and_grad` adds the
    magnetisation term and its gradient in the states' precision; a Langevin chain then goes
    through ``value_and_grad`` (``has_value_and_grad``). In fp32 V runs through autograd as a
    whole, as before the setting existed."""

    def __init__(self, energy: Callable[[torch.Tensor], torch.Tensor], targets: torch.Tensor,
                 temperature: float, alpha: "float | torch.Tensor", precision: str = "fp32"):
        self.energy, self.targets = energy, targets
        self.temperature = float(temperature)
        self.alpha = alpha if isinstance(alpha, torch.Tensor) else float(alpha)
        self.precision = check_precision(precision)
        self.has_value_and_grad = precision != "fp32"

    def value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """V ``(B,)`` and grad V at ``x``: U and grad U in :attr:`precision`, the pull
        ``alpha (x - X*) / ||x - X*||`` (zero at the target) in the states' own."""
        u, g = energy_and_grad(self.energy, x, precision=self.precision)
        diff = x - self.targets
        d = diff.reshape(x.shape[0], -1).norm(dim=1)
        a = _per_chain(self.alpha, x) if isinstance(self.alpha, torch.Tensor) else self.alpha
        scale = _per_chain(torch.where(d > 0, 1.0 / d.clamp_min(torch.finfo(d.dtype).tiny),
                                       torch.zeros_like(d)), x)
        v = u / self.temperature + self.alpha * d
        return v, g / self.temperature + a * (diff * scale)

    def distance(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.targets).reshape(x.shape[0], -1).norm(dim=1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.energy(x) / self.temperature + self.alpha * self.distance(x)

    def parameters(self):
        params = getattr(self.energy, "parameters", None)
        return params() if params is not None else iter(())

    def base_energy(self, v: torch.Tensor, distance: torch.Tensor) -> torch.Tensor:
        """U from V and the distance to the target at the same states (no second network
        evaluation)."""
        return (v - self.alpha * distance) * self.temperature


def attraction_diffusion(energy: Callable[[torch.Tensor], torch.Tensor], starts: torch.Tensor,
                         targets: torch.Tensor, *, temperature: float, alpha: float,
                         eps: float, generator: torch.Generator | None = None,
                         delta: float = 0.05, improvement_limit: int = 100,
                         max_steps: int = 10000, sampler: str = "langevin",
                         record: bool = False, record_states: int = 0,
                         progress: bool = False, precision: str = "fp32") -> ADResult:
    """A batch of AD trials for continuous states (eq. 4.6, L2 magnetisation).

    Each step moves every unfinished trial by one step of the sampler kernel on the magnetised
    energy ``V(X) = U(X)/T + alpha ||X - X*||_2`` (:class:`MagnetisedEnergy`): Langevin with
    noise 1, ``X <- X - (eps^2/2) grad V + eps Z`` (the Langevin equation (4.7) discretised,
    :func:`ebmbook.sampling.langevin.step`), or random-walk Metropolis (``sampler="rwm"``,
    proposal ``X + eps Z``, :func:`ebmbook.sampling.rwm.step`). Finished trials are frozen.
    ``temperature`` is a scalar; ``alpha`` a scalar or one value per trial (a sequence or tensor
    of length B), so that trials at several magnetisations share one tensor of chains.
    ``record_states`` > 0 keeps the states every that many steps (``path_states``, e.g. for
    image strips of AD paths). ``precision``: the arithmetic of U and grad U (``"fp32"`` or
    ``"bf16"``, Langevin only; see the module docstring: the barriers are float32 energies of
    the state where the bf16 path peaked, the recorded path energies bf16 ones).
    """
    if sampler not in ("langevin", "rwm"):
        raise ValueError(f"sampler must be 'langevin' or 'rwm', got {sampler!r}")
    check_precision(precision)
    if precision != "fp32" and sampler != "langevin":
        raise ValueError(f"precision = {precision!r} needs sampler='langevin' (random-walk "
                         "Metropolis compares energies, so it runs in fp32)")
    exact_peak = precision != "fp32"
    x = starts.detach().clone()
    B = x.shape[0]
    a = np.asarray(alpha.detach().cpu() if isinstance(alpha, torch.Tensor) else alpha,
                   dtype=np.float64)
    if a.ndim and a.shape != (B,):
        raise ValueError(f"alpha must be a scalar or have one value per trial ({B}), got shape "
                         f"{a.shape}")
    if not (temperature > 0 and eps > 0 and np.all(a >= 0) and delta >= 0):
        raise ValueError("temperature and eps must be > 0; alpha and delta >= 0")
    if a.ndim:
        alpha = torch.as_tensor(a, dtype=x.dtype, device=x.device)
    tg = targets.detach().expand_as(x) if targets.shape != x.shape else targets.detach()
    V = MagnetisedEnergy(energy, tg, temperature, alpha, precision=precision)
    if sampler == "langevin":
        kernel, params = langevin_kernel, LangevinParams(eps=eps, noise=1.0)
    else:
        kernel, params = rwm_kernel, RWMParams(eps=eps)

    with frozen_parameters(energy):
        state = (langevin_init if sampler == "langevin" else rwm_init)(x, V)
        d = V.distance(state.x)
        u = V.base_energy(state.energy, d)
        best = d.clone()
        stall = torch.zeros(B, dtype=torch.long, device=x.device)
        barrier = u.clone()
        peak = state.x.detach().clone() if exact_peak else None    # where the path peaked
        done = d <= delta
        success = done.clone()
        steps = torch.zeros(B, dtype=torch.long, device=x.device)
        tr_e, tr_d = ([u.clone()], [d.clone()]) if record else (None, None)
        states, state_steps = ([state.x.detach().clone()], [0]) if record_states else (None, None)
        it = range(max_steps)
        if progress:
            from .._progress import tqdm
            it = tqdm(it, desc="AD", leave=False)
        for k in it:
            if bool(done.all()):
                break
            active = ~done
            new, _ = kernel(state, V, params, generator)
            state = new.select(active, state)
            d = V.distance(state.x)
            u = V.base_energy(state.energy, d)
            steps = steps + active.long()
            if exact_peak:
                higher = active & (u > barrier)
                peak = torch.where(_per_chain(higher, peak), state.x, peak)
            barrier = torch.where(active, torch.maximum(barrier, u), barrier)
            hit = active & (d <= delta)
            success |= hit
            improved = d < best
            best = torch.where(active & improved, d, best)
            stall = torch.where(active & ~improved, stall + 1, torch.where(active, 0, stall))
            done = done | hit | (stall >= improvement_limit)
            if record:
                tr_e.append(u.clone())
                tr_d.append(d.clone())
            if record_states and (k + 1) % record_states == 0:
                states.append(state.x.detach().clone())
                state_steps.append(k + 1)
        if exact_peak:     # the float32 energy of the state where each path peaked
            with torch.no_grad():
                barrier = energy(peak).to(barrier.dtype)
    res = ADResult(success=success.cpu().numpy(), barrier=barrier.cpu().numpy(),
                   steps=steps.cpu().numpy(), final_distance=d.cpu().numpy(), final=state.x)
    if record:
        res.path_energy = torch.stack(tr_e, 1).cpu().numpy()
        res.path_distance = torch.stack(tr_d, 1).cpu().numpy()
    if record_states:
        res.path_states = torch.stack(states, 1)
        res.path_steps = np.asarray(state_steps)
    return res


def local_modes_spins(model, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Greedy (steepest) single-flip descent of each state to a single-flip-stable minimum.
    Returns (modes (B, N) int8, energies per spin (B,))."""
    S = np.array(states, dtype=np.int8, copy=True, order="C")
    if S.ndim == 1:
        S = S[None]
    H = _kernels.descend_batch(model.J, S)
    return S, H / model.n
