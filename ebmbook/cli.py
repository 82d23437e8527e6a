"""The ``ebmbook`` command: ``ebmbook run | train | book``.

    ebmbook run toy_densities --size ci       run one experiment, print its numbers
    ebmbook train fmnist_convergent --size cpu
                                              rebuild a committed model in artifacts/<name>/
    ebmbook train fmnist_convergent --size ci train another size into
                                              _build/artifacts/<name>-<spec hash>/
    ebmbook train fmnist_convergent --size ci --data folder:photos/
                                              the same recipe on your own images
    ebmbook run image_map --model-size ci --data folder:photos/
                                              map that model in image space
    ebmbook run digit_maps --map-checkpoint ckpt/
                                              long maps save their progress in ckpt/; after
                                              Ctrl-C the same command resumes them
    ebmbook book --size ci --jobs 2           execute every notebook and build the HTML book

A user error (an unknown name, an unavailable device, a bad number, a damaged artifact file)
prints one line ``error: ...`` saying what to do, and exits with status 2.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import re
import sys
from pathlib import Path

from ._timing import Stopwatch


class UsageError(Exception):
    """A command line that cannot be run as given; the message says how to fix it."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line gives one line on stderr (no usage block) and
    ``main`` returns 2 instead of the interpreter exiting."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        raise UsageError(f"{message} (see `{self.prog} --help`)")


# ----------------------------------------------------------------------------- argument types


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value
    parse.__name__ = f"integer >= {minimum}"
    return parse


def check_device(device: str) -> str:
    """``device`` if it names a device torch can use here, else a ``ValueError`` saying why."""
    if not re.fullmatch(r"cpu|cuda(:\d+)?|mps", device):
        raise ValueError(f"{device!r} is not a device: use cpu, cuda, cuda:N or mps")
    if device == "cpu":
        return device
    import torch
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"{device!r} needs CUDA, which is not available here (torch "
                             f"{torch.__version__}); use --device cpu, or run on a machine with "
                             "an NVIDIA GPU and a CUDA build of PyTorch")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"{device!r}: this machine has {torch.cuda.device_count()} "
                             f"CUDA device(s); use cuda:0 ... cuda:{torch.cuda.device_count() - 1}")
    elif not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"{device!r} needs Apple MPS, which is not available here; "
                         "use --device cpu")
    return device


def _device(text: str) -> str:
    try:
        return check_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_device.__name__ = "device"


# ----------------------------------------------------------------------------- commands


def _cmd_run(args) -> int:
    from .experiments import EXPERIMENTS, get_experiment
    if args.experiment not in EXPERIMENTS:
        raise UsageError(f"unknown experiment {args.experiment!r}: choose one of "
                         + ", ".join(sorted(EXPERIMENTS)))
    mod = get_experiment(args.experiment)
    extra = {"executor": args.executor} if args.executor is not None else {}
    if extra and "executor" not in mod.Config.__dataclass_fields__:
        raise UsageError(f"--executor: experiment {args.experiment!r} has no parallel mapping "
                         "work; it applies to sk_spin_glass")
    fields = mod.Config.__dataclass_fields__
    for opt, field in (("data", "data"), ("model_size", "model_size"),
                       ("precision", "precision"), ("checkpoint", "checkpoint"),
                       ("map_checkpoint", "map_checkpoint")):
        value = getattr(args, opt)
        if value is None:
            continue
        if field not in fields:
            users = sorted(n for n in EXPERIMENTS
                           if field in get_experiment(n).Config.__dataclass_fields__)
            raise UsageError(f"--{opt.replace('_', '-')}: experiment {args.experiment!r} has no "
                             f"'{field}' setting; it applies to " + ", ".join(users))
        extra[field] = value
    if args.size not in mod.Config.SIZES:
        raise UsageError(f"--size {args.size}: experiment {args.experiment!r} has the sizes "
                         + ", ".join(mod.Config.SIZES))
    cfg = mod.Config.for_size(args.size, seed=args.seed, device=args.device, **extra)
    _note_bf16(cfg, args.device)
    copied: list[str] = []
    if args.reuse_maps_of is not None:
        if not getattr(cfg, "map_checkpoint", ""):
            raise UsageError("--reuse-maps-of KEY needs --map-checkpoint DIR, the folder that "
                             "holds the earlier run's map files")
        from .experiments._common import reuse_map_files
        try:
            copied = reuse_map_files(cfg, args.reuse_maps_of)
        except ValueError as exc:
            raise UsageError(f"--reuse-maps-of: {exc}") from None
        print(f"started from {len(copied)} map files of {args.experiment}-{args.reuse_maps_of}: "
              + ", ".join(copied), file=sys.stderr)
    _interruptible()
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    clock = Stopwatch()
    from .landscape.adelm import MapInterrupted
    commit = None
    if getattr(cfg, "map_checkpoint", ""):   # the maps' manifest names the code that runs
        from .store import git_commit
        commit = git_commit(Path(__file__).parent)

    def map_manifest(status: str = "finished") -> None:
        """The manifest of the maps in the run's map folder (none without one)."""
        if getattr(cfg, "map_checkpoint", ""):
            from .experiments._common import write_map_manifest
            write_map_manifest(cfg, command=_command(args), commit=commit,
                               seconds=clock.seconds, status=status, dropped=dropped)

    dropped: list[str] = []
    try:
        result = _run_dropping_stale_copies(mod, cfg, copied, dropped)
    except MapInterrupted as exc:
        # the saved part, in the maps' manifest
        map_manifest(f"partial, {exc.done} of {exc.n_iter} ADELM iterations")
        # the line names what is saved and the command that resumes: this very command line
        anywhere = " (on any --executor, or none: the map is the same)" if args.executor else ""
        print(f"error: {_one_line(exc.describe(f'resume with `{_command(args)}`{anywhere}'))}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # outside ADELM: its finished stages are kept
        map_manifest("partial, interrupted (finished stages kept)")
        raise
    except concurrent.futures.CancelledError:
        if not (args.executor or "").lower().startswith("dask"):
            raise
        # a Dask scheduler lost outside an ADELM loop (tuning, barriers): its tasks were
        # cancelled; one line instead of the client's traceback
        hint = _saved_maps_hint(args) or (
            "; with --map-checkpoint DIR the ADELM maps would resume" if "map_checkpoint" in fields
            else "")
        raise UsageError(f"the tasks on --executor {args.executor} were cancelled (a lost Dask "
                         f"scheduler or worker?){hint}") from None
    map_manifest()
    metrics = result.metrics() if hasattr(result, "metrics") else {}
    # a Metric is a float (json writes its number); its description goes beside it
    descriptions = {name: getattr(value, "description", "") for name, value in metrics.items()}
    print(json.dumps({"experiment": args.experiment, "size": args.size,
                      "elapsed_s": round(clock.seconds, 1), "metrics": metrics,
                      "descriptions": descriptions}, indent=2, default=float))
    return 0


def _interruptible() -> None:
    """Make Ctrl-C (SIGINT) raise KeyboardInterrupt even where the shell started this process
    with SIGINT ignored (a background job of a non-interactive shell): a long map run must
    stop through its own handler, which saves its iterations and writes a partial manifest."""
    import signal
    import threading
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _command(args) -> str:
    """The command line being run, as the user can type it again; without ``--reuse-maps-of``,
    whose files are copied once at the start (the same command without it resumes or rebuilds
    the maps, and their manifest records what was reused)."""
    import shlex
    argv, out = list(args.argv), []
    while argv:
        a = argv.pop(0)
        if a == "--reuse-maps-of":
            argv[:1] = []
        elif not a.startswith("--reuse-maps-of="):
            out.append(a)
    return "ebmbook " + shlex.join(out)


def _saved_maps_hint(args) -> str:
    """After Ctrl-C in ``ebmbook run ... --map-checkpoint DIR``: how to resume the maps saved
    in DIR ("" when none of this experiment's are there)."""
    folder = getattr(args, "map_checkpoint", None)
    if getattr(args, "command", None) != "run" or not folder:
        return ""
    if not any(Path(folder).glob(f"{args.experiment}-*.pt")):
        return ""
    return (f"; the ADELM maps saved in {folder} resume when the same command runs again: "
            f"`{_command(args)}`")


def _describe(name: str, spec_or_manifest) -> str:
    """``size cpu (16x16, 6000 steps, spec 858c167bbe7a7a1c)`` for a spec or a manifest."""
    from . import registry
    from .models import CoopModelSpec, ImageModelSpec, spec_hash
    if isinstance(spec_or_manifest, (ImageModelSpec, CoopModelSpec)):
        spec = spec_or_manifest
        h, px, steps = spec_hash(spec), spec.image_size, spec.train.n_steps
    else:
        d = spec_or_manifest.get("spec") or {}
        train = d.get("train") if isinstance(d.get("train"), dict) else {}
        h, px, steps = spec_or_manifest.get("spec_hash"), d.get("image_size", "?"), \
            train.get("n_steps")
    found = registry.identify(name, h, steps if isinstance(steps, int) else None)
    if found is None:
        label = "a custom spec"
    else:
        label = f"size {found[0]}" + (f" --steps {found[1]}" if found[1] is not None else "")
    return f"{label} ({px}x{px}, {steps if steps is not None else '?'} steps, spec {h})"


def _check_target(name: str, spec, out: Path, force: bool) -> None:
    """Refuse to train ``spec`` into ``out`` when ``out`` holds an artifact of another spec,
    unless ``force`` (then say on stderr what will be replaced)."""
    from .models import spec_hash
    from .store import ArtifactError, read_manifest, restore_command, show_path
    try:
        manifest = read_manifest(out)
    except ArtifactError as exc:
        if force:
            print(f"warning: --force: {show_path(exc.path)} is unreadable; the artifact in "
                  f"{show_path(out)} will be replaced", file=sys.stderr)
            return
        restore = restore_command(out)
        ways = (f"restore it with `{restore}`, " if restore else "") + \
            "pass --out DIR to train elsewhere, or --force to replace it"
        raise exc.with_fix(ways) from None
    if manifest is None or manifest["spec_hash"] == spec_hash(spec):
        return  # nothing there yet, or the same spec (resumed / rebuilt): fine
    held = str(manifest.get("name") or name)
    old, new = _describe(held, manifest), _describe(name, spec)
    if not force:
        raise UsageError(f"{show_path(out)} holds {held} at {old}; refusing to replace it by "
                         f"{name} at {new}: pass --out DIR to train elsewhere, or --force to "
                         "replace it")
    print(f"warning: --force: {show_path(out)} holds {held} at {old}; it will be replaced by "
          f"{name} at {new} when training finishes", file=sys.stderr)


def _cmd_train(args) -> int:
    import shlex

    import torch

    from . import registry
    from .artifacts import train_artifact
    from . import store
    from .models import spec_hash
    from .store import show_path
    if args.model != "all" and args.model not in registry.MODELS:
        raise UsageError(f"unknown image model {args.model!r}: choose one of "
                         + ", ".join(sorted(registry.MODELS)) + " or all")
    if args.threads:
        torch.set_num_threads(args.threads)
    names = sorted(registry.MODELS) if args.model == "all" else [args.model]
    plans = []
    for name in names:   # check every target before training anything
        spec = registry.model_spec(name, args.size, args.steps, data=args.data,
                                   precision=args.precision)
        if args.out:
            out = Path(args.out) / name if len(names) > 1 else Path(args.out)
        else:
            out = registry.default_directory(name, spec)
        _check_target(name, spec, out, args.force)
        plans.append((name, spec, out))
    for name, spec, out in plans:
        _note_bf16(spec, args.device)
        command = registry.rebuild_command(name, args.size, args.steps, args.data,
                                           args.precision)
        if args.device != "cpu":
            command += f" --device {shlex.quote(args.device)}"
        clock = Stopwatch()
        ckpt = args.checkpoint_dir
        if ckpt and len(names) > 1:
            ckpt = f"{ckpt}/{name}"
        if not args.quiet:
            print(f"{name}: training {_describe(name, spec)} into {show_path(out)}",
                  file=sys.stderr)
        try:
            art = train_artifact(name, spec, out, device=args.device, resume=args.resume,
                                 progress=not args.quiet, stop_after=args.stop_after,
                                 command=command, checkpoint_dir=ckpt)
        except KeyboardInterrupt:
            _record_partial(name, spec, out, ckpt, command)
            raise
        if art is None:
            _record_partial(name, spec, out, ckpt, command)
            print(f"{name}: stopped after {args.stop_after} steps (checkpointed); run again "
                  f"to resume, then save to {show_path(out)}")
            continue
        store.clear_partial(out)
        if ckpt and _inside(Path(ckpt), out):   # the finished artifact replaces its checkpoint
            import shutil
            shutil.rmtree(ckpt, ignore_errors=True)
        print(json.dumps({"model": name, "size": args.size, "spec_hash": spec_hash(spec),
                          "out": str(out), "elapsed_s": round(clock.seconds, 1),
                          "metrics": art.metrics}, indent=2, default=float))
    return 0


def _inside(path: Path, folder: Path) -> bool:
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
        return True
    except ValueError:
        return False


def _record_partial(name: str, spec, out: Path, ckpt, command: str) -> None:
    """After a run stopped early: when its checkpoint lies inside the artifact folder ``out``
    (``--checkpoint-dir artifacts/<name>/partial``, so that it can be committed), write
    ``out/partial.json`` saying how far it got and the command that resumes it (the run's
    rebuild ``command`` with its ``--checkpoint-dir``)."""
    import shlex

    from . import store
    from .learning.fit import CHECKPOINT, checkpoint_sessions, read_checkpoint
    if not ckpt:
        return
    path = Path(ckpt) / CHECKPOINT
    if not _inside(path, out) or not path.exists():
        return          # a checkpoint outside the artifact folder is not meant to be committed
    state = read_checkpoint(path)
    resume = f"{command} --checkpoint-dir {shlex.quote(store.show_path(ckpt))}"
    commits = checkpoint_sessions(state)     # the run's first session's code, not the tree now
    store.write_partial(out, spec, name=name, steps_done=int(state["step"]),
                        n_steps=spec.train.n_steps, checkpoint=path, resume_command=resume,
                        wall_s=float(state["log"].get("wall_s", 0.0)),
                        started_commit=commits[0] if commits else None)
    print(f"{name}: partial, {int(state['step'])} of {spec.train.n_steps} updates recorded in "
          f"{store.show_path(Path(out) / store.PARTIAL)}; resume with `{resume}`",
          file=sys.stderr)


def _note_bf16(config, device: str) -> None:
    """Say on stderr when ``config`` asks for bf16 that this machine computes in fp32."""
    from .energies.precision import fallback_note
    note = fallback_note(config, device)
    if note:
        print(note, file=sys.stderr)


# a copy of ebmbook.energies.precision.PRECISIONS, so that parsing arguments does not import
# torch (tests/test_precision.py checks that the two agree)
PRECISION_CHOICES = ("fp32", "bf16", "tf32")


def _cmd_book(args) -> int:
    from .book import BookBuildError, build
    try:
        build(size=args.size, jobs=args.jobs, seed=args.seed, device=args.device,
              only=args.only, html=not args.no_html, execute=not args.html_only,
              browser=args.browser)
    except BookBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


# ----------------------------------------------------------------------------- errors


def _raised_in_ebmbook(exc: BaseException) -> bool:
    """Whether the innermost frame that raised ``exc`` is this package's code (a validation
    message written for the user) rather than a library's (more likely a bug)."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    package = Path(__file__).resolve().parent
    try:
        Path(tb.tb_frame.f_code.co_filename).resolve().relative_to(package)
        return True
    except ValueError:
        return False


def _user_error(exc: Exception) -> bool:
    """The project's own error types: config validation, damaged artifacts, missing data,
    diverged training. Anything else is a bug and keeps its traceback."""
    if isinstance(exc, (UsageError, FileNotFoundError)):
        return True
    store = sys.modules.get("ebmbook.store")
    if store is not None and isinstance(exc, store.ArtifactError):
        return True
    for module in ("ebmbook.learning.fit", "ebmbook.learning.trainer"):
        diverged = getattr(sys.modules.get(module), "TrainingDivergedError", None)
        if diverged is not None and isinstance(exc, diverged):
            return True
    interrupted = getattr(sys.modules.get("ebmbook.landscape.adelm"), "MapInterrupted", None)
    if interrupted is not None and isinstance(exc, interrupted):
        return True
    return isinstance(exc, ValueError) and _raised_in_ebmbook(exc)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# ----------------------------------------------------------------------------- main


def _run_dropping_stale_copies(mod, cfg, copied: list[str], dropped: list[str] | None = None):
    """``mod.run(cfg)``; where an ADELM file copied by ``--reuse-maps-of`` is refused as another
    map's (the widened grid moved T or alpha, so the earlier run's ADELM no longer applies), that
    copy is deleted and the run goes on from the stages it kept, as a run without the copy
    would. The deleted copies' names are appended to ``dropped`` (for the maps' manifest)."""
    from .learning.fit import ForeignCheckpointError
    folder = Path(cfg.map_checkpoint).resolve() if copied else None
    left = set(copied)
    while True:
        try:
            return mod.run(cfg)
        except ForeignCheckpointError as exc:
            name = exc.path.name
            if name not in left or exc.path.resolve().parent != folder:
                raise
            exc.path.unlink(missing_ok=True)
            left.remove(name)
            if dropped is not None:
                dropped.append(name)
            print(f"{name}: the earlier run's ADELM belongs to another T or alpha; mapped anew",
                  file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ebmbook", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp, sizes=("ci", "paper")):
        sp.add_argument("--size", default="ci", choices=sizes)
        sp.add_argument("--seed", type=_int_at_least(0), default=0)
        sp.add_argument("--device", type=_device, default="cpu",
                        help="cpu (default), cuda, cuda:N or mps")

    r = sub.add_parser("run", help="run one experiment and print its numbers")
    r.add_argument("experiment")
    r.add_argument("--threads", type=_int_at_least(1), default=None,
                   help="torch CPU threads (e.g. 1 beside a training that holds the other core: "
                        "more threads than free cores can make a run ten times slower)")
    r.add_argument("--checkpoint", default=None,
                   help="thesis_regime: evaluate an unfinished run from this checkpoint folder")
    r.add_argument("--map-checkpoint", metavar="DIR", default=None,
                   help="sk_spin_glass, digit_maps, texture_maps, face_map, image_map: each "
                        "ADELM map saves its progress in a file of DIR named after the "
                        "experiment, its settings "
                        "and the map; after Ctrl-C or a lost Dask scheduler, the same command "
                        "resumes it (the same numbers as an uninterrupted run)")
    r.add_argument("--reuse-maps-of", metavar="KEY", default=None,
                   help="with --map-checkpoint DIR: start from the finished map files of an "
                        "earlier run of the same experiment in DIR (<experiment>-KEY-*.pt), e.g. "
                        "after widening a tuning grid; every stage whose inputs changed is "
                        "computed anew (an ADELM map too, where T or alpha moved), and the "
                        "manifest records the earlier run and adds its time")
    r.add_argument("--precision", default=None, choices=PRECISION_CHOICES,
                   help="arithmetic of the energy (fp32 | bf16; tf32 on CUDA) where an "
                        "experiment has that setting")
    r.add_argument("--executor", default=None,
                   help="where mapping tasks run: inline (default), process:N, dask, dask:N or "
                        "dask:tcp://host:8786 (same numbers whichever)")
    r.add_argument("--data", default=None,
                   help="image_map: map a model of these images, e.g. folder:DIR (a folder of "
                        "your JPEG/PNG files; the model is trained on first use)")
    r.add_argument("--model-size", default=None, choices=("ci", "cpu", "paper"),
                   help="image_map: which size of the model to map (default cpu)")
    common(r, sizes=("ci", "cpu", "thesis", "thesis28", "mnist28", "wide", "wide28", "scales",
                     "mnist", "digits03", "faces24", "paper"))
    r.set_defaults(func=_cmd_run)

    t = sub.add_parser("train", help="train an image model artifact",
                       description="Train a registered image model and save it as an artifact. "
                       "Default output: artifacts/<name> (committed) for --size cpu; "
                       "_build/artifacts/<name>-<spec hash> for other sizes or --steps.")
    t.add_argument("model", help="fmnist_convergent | fmnist_nonconvergent | brick_convergent | "
                                  "mnist_convergent | "
                                  "coop_digits03 | coop_mnist | ... | all (an unknown name "
                                  "lists them)")
    t.add_argument("--size", default="cpu", choices=("ci", "cpu", "paper"),
                   help="ci: seconds; cpu: the committed artifacts; paper: thesis scale (GPU)")
    t.add_argument("--device", type=_device, default="cpu",
                   help="cpu (default), cuda, cuda:N or mps")
    t.add_argument("--steps", type=_int_at_least(1), default=None,
                   help="override the number of steps")
    t.add_argument("--data", default=None,
                   help="train the recipe on other images, e.g. folder:DIR (a folder of your "
                        "JPEG/PNG files; sub-folders become labels)")
    t.add_argument("--resume", dest="resume", action="store_true", default=True,
                   help="continue from the last checkpoint of the same spec (default)")
    t.add_argument("--no-resume", dest="resume", action="store_false")
    t.add_argument("--out", default=None,
                   help="output folder (default: artifacts/<name> for --size cpu, else "
                        "_build/artifacts/<name>-<spec hash>)")
    t.add_argument("--force", action="store_true",
                   help="replace an artifact of another spec in the output folder")
    t.add_argument("--checkpoint-dir", default=None,
                   help="checkpoint folder (default _build/checkpoints/<name>-<spec hash>)")
    t.add_argument("--stop-after", type=_int_at_least(1), default=None,
                   help="stop (checkpointed) after N steps")
    t.add_argument("--threads", type=_int_at_least(1), default=None, help="torch CPU threads")
    t.add_argument("--precision", default=None, choices=PRECISION_CHOICES,
                   help="arithmetic of the energy while training (default: the spec's own; "
                        "another value is another spec, trained under _build/)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_cmd_train)

    b = sub.add_parser("book", help="execute the notebooks and build the HTML book")
    common(b)
    b.add_argument("--jobs", type=_int_at_least(1), default=2,
                   help="notebooks executed in parallel")
    b.add_argument("--only", nargs="+", help="execute only these notebooks (by stem)")
    b.add_argument("--no-html", action="store_true", help="execute notebooks, skip HTML")
    b.add_argument("--html-only", action="store_true",
                   help="rebuild the HTML from the notebooks executed by an earlier run")
    b.add_argument("--browser", choices=("auto", "require", "off"), default="auto",
                   help="open every page in headless Chromium and fail on requests to other "
                        "hosts, console errors or broken images (auto: when installed)")
    b.set_defaults(func=_cmd_book)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv``; returns the exit status (2 for a user error, which is
    reported as one line on stderr)."""
    args = None
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        args = _parser().parse_args(argv)
        args.argv = argv
        return args.func(args)
    except KeyboardInterrupt:
        hint = ("; run the same command again to resume from the last checkpoint"
                if getattr(args, "command", None) == "train" else _saved_maps_hint(args))
        print(f"error: interrupted{hint}", file=sys.stderr)
        return 130
    except Exception as exc:
        if not _user_error(exc):
            raise
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
