"""Shared pieces for the export tests: a tiny trained model and a Python without ravejobs.

`fresh_python(script, cwd)` runs a script the way a machine with only torch installed would:
`-I -S` (no environment, no user site, no .pth files, so not the editable ravejobs install),
site-packages added back by hand, working directory outside the repository. The script first
proves that `ravejobs` cannot be imported there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from compose import compose_spec
from test_train_helpers import BASE, SR

from ravejobs.rundir import RunDir

SITE = str(Path(torch.__file__).resolve().parents[1])
GUARD = f"""
import sys
sys.path[:] = [p for p in sys.path if 'work/main' not in p] + [{SITE!r}]
import importlib.util
assert importlib.util.find_spec('ravejobs') is None, 'ravejobs is importable'
"""


def fresh_python(script: str, cwd: Path, *args: str, timeout: float = 120) -> dict:
    """Run `script` (which prints one JSON line last) in a Python without ravejobs."""
    done = subprocess.run([sys.executable, "-I", "-S", "-c", GUARD + script, *args],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_take(path: Path, seconds: float = 1.536, seed: int = 1) -> Path:
    """A real wav: a gliding tone with a tremolo and some noise, length a multiple of 2048."""
    rng = np.random.default_rng(seed)
    n = int(SR * seconds) // 2048 * 2048
    t = np.arange(n) / SR
    sig = 0.4 * np.sin(2 * np.pi * (200 + 150 * t) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    sig += 0.03 * rng.standard_normal(n)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, sig.astype(np.float32), SR)
    return path


def make_spec(root: Path, corpus: tuple[Path, Path], *extra: str):
    raw, packed = corpus
    overrides = [o for o in BASE if not o.startswith("prior=")]
    return compose_spec([*overrides, f"dataset.raw='{raw}'", f"dataset.packed='{packed}'",
                         f"storage.root='{root}'", *extra])


def trained_point(root: Path, corpus: tuple[Path, Path], *extra: str):
    """(spec, model run, prior run or None): a tiny model trained through both phases."""
    from test_train_helpers import train

    spec = make_spec(root, corpus, *extra)
    model_run = RunDir.for_spec(spec, "train")
    model_run.create(spec)
    train(model_run)
    prior_run = None
    if spec.prior.enabled:
        from ravejobs.jobs.runner import StageRunner

        prior_run = RunDir.for_spec(spec, "prior")
        prior_run.create(spec)
        StageRunner("prior", str(prior_run.path))()
    return spec, model_run, prior_run


@pytest.fixture(scope="session")
def streaming_point(tmp_path_factory, corpus):  # noqa: F811
    """A no_latency tiny model with a cropped latent and a 4-step prior, trained once."""
    root = tmp_path_factory.mktemp("export $root")
    return trained_point(root, corpus, "model.no_latency=true", "model.streaming=true",
                         "prior=demo",
                         "prior.max_steps=4", "prior.n_frames=24")
