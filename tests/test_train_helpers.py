"""Shared pieces for the model/train tests: a real packed corpus and tiny run folders.

The corpus is made the way users make one: wav files written here, then the data engineer's
`prepare_corpus`. Runs use the `tiny` model at a short window so a whole two-phase run takes
seconds on one core.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from ravejobs.config import RunSpec
from ravejobs.rundir import RunDir

SR = 16000
BASE = ["dataset=demo", "dataset.generate=false", "model.n_signal=4096", "model.batch=2",
        "phase.warmup=4", "phase.gan_steps=4", "train.val_every=2", "train.log_every=1",
        "train.checkpoint_every_steps=3", "train.num_workers=0", "prior=none"]


def write_wavs(folder: Path, seconds: float = 3.0, files: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t = np.arange(int(SR * seconds)) / SR
    for i in range(files):
        tone = 0.3 * np.sin(2 * np.pi * (220 * (i + 1)) * t) * (1 + np.sin(2 * np.pi * 2 * t)) / 2
        sig = tone + 0.05 * rng.standard_normal(t.size)
        sf.write(folder / f"take {i}.wav", sig.astype(np.float32), SR)
    return folder


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(raw folder, packed folder) of a real corpus made by prepare_corpus."""
    from ravejobs.data.prepare import prepare_corpus

    root = tmp_path_factory.mktemp("corpus")
    raw = write_wavs(root / "raw audio")
    packed = root / "packed $store"
    prepare_corpus(raw, packed, SR, workers=1, progress=False, log=lambda *_: None)
    return raw, packed


def make_run(root: Path, corpus: tuple[Path, Path], *extra: str) -> tuple[RunSpec, RunDir]:
    from compose import compose_spec

    raw, packed = corpus
    spec = compose_spec([*BASE, f"dataset.raw='{raw}'", f"dataset.packed='{packed}'",
                         f"storage.root='{root}'", *extra])
    run = RunDir.for_spec(spec, "train")
    run.create(spec)
    return spec, run


CPU = {"accelerator": "cpu", "devices": 1, "strategy": "auto"}


def train(run: RunDir, **options) -> dict:
    """Run the train stage through the runner, as a job does (options go to the session)."""
    from ravejobs.jobs.runner import StageRunner

    torch.set_num_threads(1)  # bitwise comparisons need the same reduction order every run
    options.setdefault("hardware", CPU)
    return StageRunner("train", str(run.path), **options)()


def params(run: RunDir) -> dict[str, torch.Tensor]:
    from ravejobs.model import checkpoints

    found = checkpoints.newest_valid(run.checkpoints)
    assert found is not None
    return {k: v.clone() for k, v in found[1]["state_dict"].items()}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"differ: {different[:5]}"
