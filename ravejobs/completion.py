"""`ravejobs --completion bash`: a bash completion script made from the parser itself.

Static (no Python runs on each TAB, so completion is instant): subcommands, then each one's
options, then file names. `python launch.py` has Hydra's own completion (`-sc install=bash`).
"""

from __future__ import annotations

import argparse
import shlex


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [s for action in parser._actions for s in action.option_strings]


def bash_script(parser: argparse.ArgumentParser, prog: str = "ravejobs") -> str:
    """The script for `eval "$(ravejobs --completion bash)"` (or a file in bash_completion.d)."""
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    top = " ".join([*subs.choices, *_options(parser)])
    cases = "\n".join(
        f"    {shlex.quote(name)}) opts={shlex.quote(' '.join(_options(sub)))} ;;"
        for name, sub in subs.choices.items())
    fn = "_" + "".join(c if c.isalnum() else "_" for c in prog)
    return f"""{fn}() {{
  local cur=${{COMP_WORDS[COMP_CWORD]}} opts=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W {shlex.quote(top)} -- "$cur")); return
  fi
  case "${{COMP_WORDS[1]}}" in
{cases}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}}
complete -o filenames -F {fn} {prog}
"""
