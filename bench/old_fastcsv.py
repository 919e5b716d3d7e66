"""The hand-written CSV parser that the binary metrics log replaced (issue 13), for benches only.

It is not in the tree any more; benches load it from git history (the last commit that had it)
to time the old report path side by side with the new one. None where git or that commit is
not there (a copy without history): the bench then leaves that row out.
"""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

COMMIT = "5b7a520"   # last commit with ravejobs/metrics/fastcsv.py
PATH = "ravejobs/metrics/fastcsv.py"


def load() -> types.ModuleType | None:
    try:
        source = subprocess.run(["git", "show", f"{COMMIT}:{PATH}"], capture_output=True,
                                text=True, check=True, timeout=30,
                                cwd=Path(__file__).resolve().parent).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    module = types.ModuleType("old_fastcsv_from_git")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{COMMIT}:{PATH}", "exec"), module.__dict__)
    return module
