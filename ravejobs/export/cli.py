"""`ravejobs export RUN [--out FILE] [--streaming | --no-streaming]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export", help="write a TorchScript file of a trained run for nn~",
        description="Script the newest checkpoint of a run (and its prior, when one was "
                    "trained on that checkpoint) into one .ts file that nn~ loads.")
    p.add_argument("run", help="a run folder: the model's 03-TR-..., or its 04-TP-/05-EX-...")
    p.add_argument("--out", help="file to write (default: <RUN>/export/<model>-<sig>.ts)")
    p.add_argument("--streaming", action=argparse.BooleanOptionalAction, default=False,
                   help="cached convolutions carry state across successive buffers; a centred "
                        "model (no_latency false) then adds latency. Default (as upstream v1 "
                        "without --cached): each buffer on its own, no state, no added latency")
    p.set_defaults(func=main)


def runs_of(path: Path) -> tuple:
    """(model run, prior run or None) for any run folder of a sweep point."""
    from ravejobs.rundir import RunDir

    if not (path / "run.json").is_file():
        raise FileNotFoundError(f"{path}: not a run folder (no run.json); give a 03-TR-… "
                                "folder under <storage.root>/runs")
    given = RunDir.open(path)
    spec = given.spec()
    model_run = given if given.stage == "train" else RunDir.for_spec(spec, "train")
    prior_run = None
    if spec.prior.enabled:
        candidate = given if given.stage == "prior" else RunDir.for_spec(spec, "prior")
        if (candidate.path / "prior.pt").exists():
            prior_run = candidate
    return given, model_run, prior_run


def main(args: argparse.Namespace) -> int:
    from ravejobs.export.run import ExportRefused, export_filename, export_run

    given, model_run, prior_run = runs_of(Path(args.run))
    out = Path(args.out) if args.out else given.export / export_filename(model_run)
    try:
        result = export_run(model_run, out, args.streaming, prior_run)
    except ExportRefused as err:
        print(f"ravejobs export: refused: {err}", file=sys.stderr)
        return 1
    info = result.to_dict()
    mode = (f"streaming, latency {result.latency} samples" if result.streaming
            else "each buffer on its own")
    print(f"wrote {result.path} ({info['bytes'] / 1e6:.1f} MB, {mode}, {result.sr} Hz, "
          f"latent {result.latent_size}, hop {result.hop}, methods "
          f"{', '.join(result.methods)})")
    if prior_run is None:
        print("no prior included (none trained on this checkpoint)")
    print(json.dumps(info, indent=2))
    return 0
