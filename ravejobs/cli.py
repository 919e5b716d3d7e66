"""`ravejobs` command: one subcommand per module, each registering itself with `register()`.

Modules keep heavy imports (torch, librosa) inside their handlers so `ravejobs --help` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ravejobs import __version__

# module -> provides `register(subparsers)`; the order is the order in `--help`.
SUBCOMMANDS = (
    "ravejobs.data.cli",       # prepare, duration, unpack, demo
    "ravejobs.status",         # status
    "ravejobs.cancel",         # cancel
    "ravejobs.report.cli",     # report
    "ravejobs.export",         # export
)


class _Completion(argparse.Action):
    """Prints the completion script and exits, like --version (no COMMAND needed)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        from ravejobs.completion import bash_script

        print(bash_script(parser), end="")
        parser.exit()


class _Version(argparse.Action):
    """Version, git revision of this checkout and the libraries' versions (no torch import)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        from ravejobs.provenance import git_revision, versions_line

        print(f"ravejobs {__version__} (git {git_revision()})\n{versions_line()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ravejobs",
        description="Train RAVE models on SLURM; sweeps start with `python launch.py -m ...`.",
    )
    parser.add_argument("--version", nargs=0, action=_Version,
                        help="print the version, git revision and library versions, and exit")
    parser.add_argument("--completion", choices=("bash",), action=_Completion,
                        help='print a bash completion script: eval "$(ravejobs --completion '
                             'bash)"; python launch.py has Hydra\'s (-sc install=bash)')
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (FileNotFoundError, NotADirectoryError, ValueError) as err:
        if isinstance(err, OSError) and err.filename is not None:
            from ravejobs.oserrors import os_error_line

            err = os_error_line(err)  # type: ignore[assignment]
        print(f"ravejobs {args.command}: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # read-only, permission, full disk: one line naming the path
        from ravejobs.oserrors import os_error_line

        print(f"ravejobs {args.command}: {os_error_line(err)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
