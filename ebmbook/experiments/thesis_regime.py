"""Issue 23's yardstick for a convergent model: realistic long runs, oversaturated minima, and
Fig 3.8's order-to-chaos test on the same model.

Secs 3.2.3, 3.4.1 and 5.2.3.1 rest on two properties of a convergent DeepFRAME model, measured
here on one model with the same data and the same starting images:

* **long runs stay in the data's energy spread.** Chains from test images run for
  ``longrun_steps`` of the model's own sampler at gamma = 1 (noise tau * gamma, eq. 3.6); their
  final energies, as z-scores against the test images' energies, should satisfy |z| <= 2;
* **its minima lie far below and are oversaturated.** From the same images, gamma = 0 (the
  noiseless descent ``X <- X - eps^2/2 grad U``) runs for ``descent_steps``; its energies should
  fall far below the data (z < -3) and its share of saturated pixels (|x| > 0.95) should exceed
  the data's by at least 0.2.

Both runs are recorded every ``record_every`` steps (mean z and saturated share), so the page can
show how far the descent still falls. The other recipes in ``compare`` (e.g. the 16x16
``fmnist_convergent``) are measured the same way, so the page can show what each recipe gives.

On the main model it also measures **Fig 3.8** (Sec 3.4.1): the finite-size maximal Lyapunov
exponent lambda(gamma, delta0) of the sampler over a grid of separations delta0, with both noise
conventions of :func:`ebmbook.diagnostics.lyapunov.maximal_lyapunov` - ``shared`` (one Brownian
path drives both chains: the exponent of the SDE (3.8), which is what the thesis's definition
(3.7) describes) and ``independent`` (each chain its own noise) - and long-run samples at every
gamma from the same states (the visual side of the figure).

Every energy is measured in fp32, whatever precision the chains ran in. The numbers of a named
size's config are a committed table (``artifacts/thesis_regime[-<size>]/table.json``, with its
manifest; about 21 minutes of one CPU core at ``ci`` size); a page loads it, and any other config
is computed and cached. ``checkpoint`` evaluates an unfinished run from its latest checkpoint
(the model of its first k updates), so a long training can be followed while it runs; such an
evaluation is never saved as a table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from .._config import require_choice, require_int
from ..artifacts import Artifact, artifact_from_checkpoint, load_or_train
from .. import registry
from ..diagnostics.lyapunov import zero_crossing
from ..registry import MODEL_SIZES, MODELS, model_spec
from ..results import Metric
from ..sampling.init import random_index
from . import _tables
from ._base import ExperimentConfig
from ._common import lyapunov_estimate, progress_bar, start_states

NAME = "thesis_regime"
SATURATED = 0.95    # a pixel beyond +-0.95 (of the [-1, 1] range) counts as saturated
NOISES = ("shared", "independent")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    model: str = "fmnist_convergent28"
    model_size: str = "cpu"
    compare: tuple = ("fmnist_convergent",)   # other recipes, measured the same way
    n_chains: int = 16
    longrun_steps: int = 20_000
    descent_steps: int = 100_000
    record_every: int = 2000
    n_data: int = 1000
    gammas: tuple = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)
    delta0s: tuple = (0.01, 0.1, 1.0)
    lyap_chains: int = 4
    lyap_steps: int = 400          # sampler steps of burn-in and of measurement
    frame_chains: int = 4
    frame_steps: int = 2000
    checkpoint: str = ""      # a checkpoint folder of an unfinished run of the model ("": none)
    progress: bool = True

    SIZES: ClassVar = {
        "ci": {},
        "cpu": {"n_chains": 32, "lyap_chains": 8},
        "paper": {"model_size": "paper", "n_chains": 64, "longrun_steps": 100_000,
                  "lyap_chains": 16, "lyap_steps": 2000, "frame_steps": 100_000},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        require_choice(self, "model", tuple(MODELS))
        require_choice(self, "model_size", MODEL_SIZES)
        for m in self.compare:
            if m not in MODELS:
                raise ValueError(f"config field 'compare' names {m!r}, which is not a registered "
                                 f"model: choose from {', '.join(MODELS)}")
        require_int(self, "n_chains", "longrun_steps", "descent_steps", "record_every",
                    "n_data", "lyap_chains", "lyap_steps", "frame_chains", "frame_steps")
        for name in ("gammas", "delta0s"):
            v = getattr(self, name)
            if not v or any(not x >= 0 for x in v) or list(v) != sorted(set(v)):
                raise ValueError(f"config field {name!r} = {v!r} is invalid: it must be a "
                                 "non-empty increasing tuple of numbers >= 0")
        if min(self.delta0s) <= 0:
            raise ValueError("config field 'delta0s' must hold numbers > 0")
        if self.lyap_steps < 4:
            raise ValueError(f"config field 'lyap_steps' = {self.lyap_steps} is invalid: it "
                             "must be at least 4 (a quarter of it aligns the perturbation)")


def saturation(x) -> float:
    """The share of pixels beyond +-0.95."""
    x = torch.as_tensor(x)
    return float((x.abs() > SATURATED).float().mean())


@dataclass
class ModelRuns:
    """The long run and the descent of one model from the same test images."""
    name: str
    image_size: int
    steps_done: int
    data: np.ndarray                # the starting test images (n_chains, 1, s, s)
    data_energy: np.ndarray         # U of n_data test images
    data_saturation: float          # saturated share of the n_data test images
    longrun: np.ndarray             # final gamma = 1 states
    longrun_energy: np.ndarray
    descent: np.ndarray             # final gamma = 0 states
    descent_energy: np.ndarray
    curve_steps: np.ndarray         # steps at which both runs were recorded
    longrun_curve_z: np.ndarray     # mean z of the chains at each recorded step
    descent_curve_z: np.ndarray
    longrun_curve_saturation: np.ndarray
    descent_curve_saturation: np.ndarray
    seconds: dict = field(default_factory=dict)

    def z(self, u) -> float:
        d = self.data_energy
        return float((np.mean(u) - d.mean()) / d.std())

    @property
    def longrun_z(self) -> float:
        return self.z(self.longrun_energy)

    @property
    def descent_z(self) -> float:
        return self.z(self.descent_energy)

    @property
    def start_saturation(self) -> float:
        """The saturated share of the chains' starting test images (the yardstick of the
        saturation excesses; ``data_saturation`` is that of all n_data test images)."""
        return saturation(self.data)

    @property
    def descent_saturation_excess(self) -> float:
        return saturation(self.descent) - self.start_saturation

    @property
    def longrun_saturation_excess(self) -> float:
        return saturation(self.longrun) - self.start_saturation


@dataclass
class Chaos:
    """Fig 3.8 on the main model: lambda(delta0, gamma) per noise convention, and frames."""
    gammas: np.ndarray
    delta0s: np.ndarray
    maps: dict                      # noise -> (len(delta0s), len(gammas)) exponents per unit time
    frame_gammas: np.ndarray
    frames: np.ndarray              # (len(gammas), frame_chains, 1, s, s) long-run samples
    frame_z: np.ndarray             # (len(gammas), frame_chains) energies as data z-scores
    frame_saturation: np.ndarray    # (len(gammas),)

    def zero_gamma(self, noise: str, row: int = 0) -> float:
        return zero_crossing(self.gammas, self.maps[noise][row])

    def sign_changes(self, noise: str, row: int = 0) -> list[tuple[float, str]]:
        """Every sign change of one row along gamma: ``(gamma, "+" or "-")``, the gamma by
        linear interpolation and the sign the exponent turns to ("+" : turns positive)."""
        g, e = self.gammas, np.asarray(self.maps[noise][row], dtype=float)
        out = []
        for i in range(len(g) - 1):
            a, b = e[i], e[i + 1]
            if (a > 0) != (b > 0) and np.isfinite(a) and np.isfinite(b):
                out.append((float(g[i] + (g[i + 1] - g[i]) * a / (a - b)), "+" if b > 0 else "-"))
        return out


@dataclass
class Result:
    config: Config
    main: ModelRuns
    others: list
    chaos: Chaos | None
    manifest: dict = field(default_factory=dict)
    artifact: Artifact | None = None    # the main model, when this run measured it

    def metrics(self) -> dict[str, Metric]:
        m = self.main
        out = {
            "conv_model_image_size": Metric(m.image_size, "side of the model's images"),
            "conv_train_updates": Metric(m.steps_done, "updates of the evaluated model"),
            "conv_longrun_steps": Metric(self.config.longrun_steps,
                                         "gamma = 1 steps per long-run chain"),
            "conv_descent_steps": Metric(self.config.descent_steps,
                                         "gamma = 0 (descent) steps per chain"),
            "conv_longrun_z": Metric(m.longrun_z,
                                     "mean long-run energy (gamma = 1), as a data z-score"),
            "conv_descent_z": Metric(m.descent_z,
                                     "mean energy after gamma = 0 descent, as a data z-score"),
            "conv_descent_saturation_excess": Metric(
                m.descent_saturation_excess,
                "saturated-pixel share after descent minus the data's"),
            "conv_longrun_saturation_excess": Metric(
                m.longrun_saturation_excess,
                "saturated-pixel share after the long run minus the data's"),
            "conv_data_saturation": Metric(m.start_saturation,
                                           "saturated-pixel share of the starting test images"),
        }
        for o in self.others:
            out[f"conv_longrun_z_{o.name}"] = Metric(o.longrun_z, f"{o.name}: long-run z")
            out[f"conv_descent_z_{o.name}"] = Metric(o.descent_z, f"{o.name}: descent z")
            out[f"conv_descent_saturation_excess_{o.name}"] = Metric(
                o.descent_saturation_excess, f"{o.name}: descent saturated share minus data's")
        if self.chaos is not None:
            c = self.chaos
            for noise in NOISES:
                out[f"lyapunov_zero_gamma_{noise}"] = Metric(
                    c.zero_gamma(noise, 0), f"{m.name}, {noise} noise, delta0 = "
                    f"{c.delta0s[0]:g}: gamma at which the exponent turns positive (nan: never "
                    f"on [{c.gammas[0]:g}, {c.gammas[-1]:g}])")
                for i, d0 in enumerate(c.delta0s):
                    out[f"lyapunov_zero_gamma_{noise}_delta0_{d0:g}"] = Metric(
                        c.zero_gamma(noise, i), f"{m.name}, {noise} noise, delta0 = {d0:g}: "
                        "gamma at which the exponent turns positive (nan: never)")
                    i1 = int(np.argmin(np.abs(c.gammas - 1.0)))
                    out[f"lyapunov_gamma1_{noise}_delta0_{d0:g}"] = Metric(
                        float(c.maps[noise][i, i1]), f"{m.name}, {noise} noise, delta0 = "
                        f"{d0:g}: exponent at gamma = 1 (per unit time)")
            for g, s in zip(c.frame_gammas, c.frame_saturation):
                out[f"conv_saturation_gamma{g:g}"] = Metric(
                    float(s), f"{m.name}: saturated share of long-run samples at gamma = {g:g}")
        return out


# ----------------------------------------------------------------------------- models

def load_model(config: Config, name: str | None = None, progress: bool = True) -> Artifact:
    """A model to evaluate: the finished artifact at ``config.model_size`` (at the committed
    size never trained here: a missing one raises ``FileNotFoundError`` naming its training
    command), or (for the main model) the state of an unfinished run in ``config.checkpoint``."""
    from ..artifacts import _committed
    name = config.model if name is None else name
    spec = model_spec(name, config.model_size)
    if not config.checkpoint or name != config.model:
        if config.model_size != registry.COMMITTED_SIZE:
            return load_or_train(name, spec, device=config.device, progress=progress)
        # the committed size never trains here (hours): its finished artifact, or the error
        # naming the training command, or (a run in training) how to evaluate or resume it
        _, art, partial = _committed(name, config.model_size, config.device)
        if art is None:
            raise ValueError(
                f"{name} is still in training ({partial['status']}): evaluate its "
                f"checkpoint with --checkpoint {partial['checkpoint'].rsplit('/', 1)[0]}, or "
                f"resume it with `{partial['resume_command']}`")
        return art
    out = registry.cache_root() / f"{name}-{config.model_size}-from-checkpoint"
    return artifact_from_checkpoint(name, spec, out, size=config.model_size,
                                    checkpoint_dir=config.checkpoint, device=config.device)


def _recorded_run(model, x: torch.Tensor, n_steps: int, every: int, gamma: float,
                  data_energy: np.ndarray, gen: torch.Generator, desc: str, progress: bool):
    """``n_steps`` of the model's sampler at ``gamma`` in blocks of ``every``; the final states
    and, after each block, the chains' mean energy z-score and saturated share."""
    mu, sd = float(data_energy.mean()), float(data_energy.std())
    steps, zs, sats = [], [], []
    done = 0
    bar = progress_bar(progress, total=n_steps, desc=desc, leave=False)
    while done < n_steps:
        k = min(every, n_steps - done)
        x = model.long_run(x, k, gamma=gamma, generator=gen).x
        done += k
        bar.update(k)
        steps.append(done)
        zs.append((float(model.energies(x).mean()) - mu) / sd)
        sats.append(saturation(x))
    bar.close()
    return x, np.asarray(steps), np.asarray(zs), np.asarray(sats)


def measure_model(config: Config, art: Artifact, progress: bool) -> ModelRuns:
    """The gamma = 1 long run and the gamma = 0 descent of ``art`` from the same test images."""
    model = art.model
    data = art.spec.load_data("test")[: config.n_data].to(config.device)
    gen = torch.Generator(device=config.device).manual_seed(config.seed)
    x0 = data[random_index(len(data), config.n_chains, gen, config.device, replacement=False)]
    du = model.energies(data).numpy()
    seconds = {}
    t = time.perf_counter()
    long, steps, lz, ls = _recorded_run(model, x0, config.longrun_steps, config.record_every,
                                        1.0, du, gen, f"{art.name}: gamma = 1", progress)
    seconds["longrun"] = time.perf_counter() - t
    t = time.perf_counter()
    down, dsteps, dz, ds = _recorded_run(model, x0, config.descent_steps, config.record_every,
                                         0.0, du, gen, f"{art.name}: descent", progress)
    seconds["descent"] = time.perf_counter() - t
    # one grid of recorded steps: the shorter run's curves end in NaN
    n = max(len(steps), len(dsteps))
    grid = steps if len(steps) == n else dsteps
    pad = lambda a: np.concatenate([a, np.full(n - len(a), np.nan)])  # noqa: E731
    return ModelRuns(
        name=art.name, image_size=int(art.spec.image_size),
        steps_done=int(art.manifest["steps_done"]), data=x0.cpu().numpy(), data_energy=du,
        data_saturation=saturation(data), longrun=long.cpu().numpy(),
        longrun_energy=model.energies(long).numpy(), descent=down.cpu().numpy(),
        descent_energy=model.energies(down).numpy(), curve_steps=grid,
        longrun_curve_z=pad(lz), descent_curve_z=pad(dz), longrun_curve_saturation=pad(ls),
        descent_curve_saturation=pad(ds), seconds=seconds)


def measure_chaos(config: Config, art: Artifact, data_energy: np.ndarray,
                  progress: bool) -> Chaos:
    """lambda(delta0, gamma) with both noise conventions, and long-run frames at each gamma."""
    from ..diagnostics.lyapunov import gamma_frames
    x0 = start_states(art, config.lyap_chains, config.seed).to(config.device)
    maps = {}
    jobs = [(n, d) for n in NOISES for d in config.delta0s]
    for noise, d0 in progress_bar(progress, jobs, desc="Lyapunov map", leave=False):
        maps.setdefault(noise, []).append(lyapunov_estimate(
            art, x0, config.gammas, d0, config.lyap_steps, 1, config.seed,
            noise=noise).exponent)
    xs = start_states(art, config.frame_chains, config.seed + 1).to(config.device)
    frames = gamma_frames(art.model, xs, config.gammas, config.frame_steps,
                          data_energy=data_energy,
                          generator=torch.Generator(device=config.device).manual_seed(
                              config.seed))
    fs = [frames[(float(g),)] for g in config.gammas]
    return Chaos(gammas=np.asarray(config.gammas, float),
                 delta0s=np.asarray(config.delta0s, float),
                 maps={k: np.asarray(v) for k, v in maps.items()},
                 frame_gammas=np.asarray(config.gammas, float),
                 frames=np.stack([f.images.cpu().numpy() for f in fs]),
                 frame_z=np.stack([f.energy_z for f in fs]),
                 frame_saturation=np.asarray([f.saturation for f in fs]))


# ----------------------------------------------------------------------------- table I/O

def _to_json(obj):
    if isinstance(obj, np.ndarray):
        a = np.round(obj.astype(np.float64), 5) if obj.dtype.kind == "f" else obj
        return {"__array__": np.where(np.isnan(a), None, a).tolist() if a.dtype.kind == "f"
                else a.tolist(), "shape": list(obj.shape)}
    if isinstance(obj, dict):
        return {k: _to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_json(v) for v in obj]
    return obj


def _from_json(obj):
    if isinstance(obj, dict):
        if "__array__" in obj:
            return np.asarray(obj["__array__"], dtype=float).reshape(obj["shape"])
        return {k: _from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_json(v) for v in obj]
    return obj


def _runs_payload(r: ModelRuns) -> dict:
    return _to_json({f: getattr(r, f) for f in r.__dataclass_fields__})


def _runs_from(d: dict) -> ModelRuns:
    d = _from_json(d)
    d["image_size"], d["steps_done"] = int(d["image_size"]), int(d["steps_done"])
    return ModelRuns(**d)


def _chaos_payload(c: Chaos) -> dict:
    return _to_json({f: getattr(c, f) for f in c.__dataclass_fields__})


def _chaos_from(d: dict) -> Chaos:
    return Chaos(**_from_json(d))


def load(config: Config) -> Result | None:
    """The saved result of this config, or None."""
    if config.checkpoint:
        return None
    d = _tables.load(NAME, config)
    if d is None:
        return None
    return Result(config=config, main=_runs_from(d["main"]),
                  others=[_runs_from(o) for o in d["others"]],
                  chaos=_chaos_from(d["chaos"]) if d.get("chaos") else None,
                  manifest=d["manifest"])


def run(config: Config, progress: bool | None = None) -> Result:
    """Load this config's table, or measure every model and save it (not for a checkpoint)."""
    progress = config.progress if progress is None else progress
    done = load(config)
    if done is not None:
        return done
    commit, t0 = _tables.code_version(), time.perf_counter()
    art = load_model(config, progress=progress)
    main = measure_model(config, art, progress)
    others = [measure_model(config, load_model(config, name, progress), progress)
              for name in config.compare]
    chaos = measure_chaos(config, art, main.data_energy, progress)
    res = Result(config=config, main=main, others=others, chaos=chaos, artifact=art)
    if not config.checkpoint:
        res.manifest = _tables.save(
            NAME, config, {"main": _runs_payload(main), "others": [_runs_payload(o)
                                                                     for o in others],
                           "chaos": _chaos_payload(chaos)},
            time.perf_counter() - t0, commit=commit)
    return res
