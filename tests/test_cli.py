"""The `ravejobs` command builds with every subcommand, and `--help` needs no heavy imports."""

from __future__ import annotations

import subprocess
import sys

from ravejobs.cli import build_parser

COMMANDS = {"prepare", "duration", "unpack", "demo", "status", "cancel", "report", "export"}


def test_every_subcommand_registers():
    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert set(choices) == COMMANDS


def test_help_is_fast_and_imports_no_torch():
    code = ("import sys; from ravejobs.cli import build_parser; build_parser(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
