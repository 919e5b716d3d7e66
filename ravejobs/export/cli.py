"""`ravejobs export RUN [--out FILE] [--prior PRIOR_RUN] [--streaming | --no-streaming]`."""

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
    p.add_argument("--prior", metavar="PRIOR_RUN",
                   help="the prior run (04-TP-...) to include (default: the newest trained on "
                        "the exported model step)")
    p.set_defaults(func=main)


def runs_of(path: Path) -> tuple:
    """(the folder given, its model run) for any run folder of a sweep point."""
    from ravejobs.rundir import RunDir

    if not (path / "run.json").is_file():
        raise FileNotFoundError(f"{path}: not a run folder (no run.json); give a 03-TR-… "
                                "folder under <storage.root>/runs")
    given = RunDir.open(path)
    spec = given.spec()
    model_run = given if given.stage == "train" else RunDir.for_spec(spec, "train")
    return given, model_run


def main(args: argparse.Namespace) -> int:
    from ravejobs.export.priors import choose_prior
    from ravejobs.export.run import ExportRefused, export_filename, export_run

    given, model_run = runs_of(Path(args.run))
    chosen = args.prior or (given.path if given.stage == "prior" else None)
    prior_run, note = choose_prior(model_run, model_run.state().step, chosen)
    print(note)
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
    print(json.dumps(info, indent=2))
    return 0
