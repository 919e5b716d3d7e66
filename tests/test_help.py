"""Help that says what a researcher needs: launch.py's app help, `ravejobs --version`, subcommand
options, and bash completion for `ravejobs`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ravejobs.cli import build_parser, main
from ravejobs.completion import bash_script

REPO = Path(__file__).resolve().parents[1]


def test_launch_help_shows_groups_flags_and_examples():
    done = subprocess.run([sys.executable, "launch.py", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    text = done.stdout
    for needle in ("-m, --multirun", "dry_run=true", "stage=prior", "cluster: ", "dataset: ",
                   "custom", "dataset=custom dataset.raw=/path/to/audio", "--shell-completion",
                   "phase.warmup=5e6", "kl.steps"):
        assert needle in text, needle
    assert "powered by Hydra" not in text     # not Hydra's generic page


def test_version_names_revision_and_libraries(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("ravejobs 0.1.0 (git ") and "torch " in out and "submitit " in out


def test_every_subcommand_option_is_described():
    parser = build_parser()
    subs = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, sub in subs.choices.items():
        assert sub.description, name
        for action in sub._actions:
            if action.dest != "help" and (action.option_strings or name == "demo"):
                assert action.help, f"ravejobs {name} {action.option_strings or action.dest}"


def test_bash_completion_completes_commands_and_options(tmp_path):
    script = tmp_path / "ravejobs.bash"
    script.write_text(bash_script(build_parser()))

    def complete(*words: str) -> list[str]:
        line = " ".join(words)
        probe = (f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
                 "_ravejobs; printf '%s\\n' \"${COMPREPLY[@]}\"")
        done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
        return done.stdout.split()

    assert complete("ravejobs", "st") == ["status"]
    assert complete("ravejobs", "prepare", "--au") == ["--augment"]
    assert "--watch" in complete("ravejobs", "status", "--")
