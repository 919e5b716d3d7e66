"""Your own corpus in one line (`dataset=custom dataset.raw=DIR dataset.label=NAME`), and
augmentation as a setting over the same raw audio."""

from __future__ import annotations

import pytest
from compose import compose_spec

from ravejobs.config import ConfigError
from ravejobs.naming import run_name, signature


def test_custom_corpus_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path / "root"))
    raw = tmp_path / "my audio"
    raw.mkdir()
    spec = compose_spec(["dataset=custom", f"dataset.raw='{raw}'", "dataset.label=MY-CORPUS"])
    d = spec.dataset
    assert (d.raw, d.label, d.augment) == (str(raw), "MY-CORPUS", False)
    assert d.packed == str(tmp_path / "root" / "data" / "packed" / "MY-CORPUS")
    assert run_name(spec) == "03-TR-90-MY-CORPUS"
    other = compose_spec(["dataset=custom", f"dataset.raw='{raw}'", "dataset.label=OTHER"])
    assert signature(other) != signature(spec)   # two corpora of one's own never share runs


def test_custom_corpus_without_raw_names_the_setting():
    with pytest.raises(ConfigError) as err:
        compose_spec(["dataset=custom", "dry_run=true"])
    assert err.value.problems == [
        "dataset.raw: empty; set it to the folder of your audio, e.g. dataset=custom "
        "dataset.raw=/path/to/audio dataset.label=MY-CORPUS"]


def test_augment_is_a_setting_over_the_same_raw_audio(tmp_path, monkeypatch):
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path))
    plain = compose_spec(["dataset=as", "dry_run=true"]).dataset
    aug = compose_spec(["dataset=as", "dataset.augment=true", "dry_run=true"])
    shipped = compose_spec(["dataset=as_aug", "dry_run=true"])
    # same raw audio, its own store, name and label: never the plain corpus' store or runs
    assert aug.dataset.raw == shipped.dataset.raw == plain.raw
    assert aug.dataset.packed == shipped.dataset.packed == plain.packed + "-AUG"
    assert (aug.dataset.name, aug.dataset.label) == ("as_aug", "AS-AUG")
    assert signature(aug) == signature(shipped) != signature(compose_spec(["dataset=as",
                                                                          "dry_run=true"]))
    assert signature(aug, "prepare") == signature(shipped, "prepare")
    mine = compose_spec(["dataset=custom", "dataset.raw=/x", "dataset.label=MINE",
                         "dataset.augment=true", "dry_run=true"]).dataset
    assert (mine.label, mine.packed.rsplit("/", 1)[1]) == ("MINE-AUG", "MINE-AUG")


def write_corpus(folder, sr: int = 16000, seconds: float = 3.0, files: int = 3) -> None:
    """A small corpus of one's own: chirps and noise bursts as wav and flac, in subfolders."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(int(sr * seconds)) / sr
    for i in range(files):
        sub = folder / f"take {i}"
        sub.mkdir(parents=True, exist_ok=True)
        chirp = 0.4 * np.sin(2 * np.pi * (110 * (i + 1) + 300 * t) * t)
        noise = 0.1 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * 2 * t) > 0)
        sf.write(sub / f"clip {i}.{'flac' if i % 2 else 'wav'}", (chirp + noise) * 0.8, sr)


# the user's one line, shortened to seconds of CPU (tiny model, demo-sized phases)
SHORT = ("model=tiny", "phase=demo", "prior=demo", "phase.warmup=6", "phase.gan_steps=4",
         "prior.max_steps=4", "model.n_signal=2048", "model.batch=2", "train.num_workers=0")


@pytest.mark.slow
def test_own_corpus_trains_end_to_end_from_one_line(tmp_path):
    import json
    import os
    import re
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    corpus = tmp_path / "my corpus"
    write_corpus(corpus)
    root = tmp_path / "root"
    env = {**os.environ, "RAVEJOBS_ROOT": str(root), "COLUMNS": "200"}
    line = [sys.executable, "launch.py", "dataset=custom", f"dataset.raw='{corpus}'",
            "dataset.label=MINE", "dataset.sr=16000", *SHORT]
    # on a terminal (script(1) gives it one), as a user sees it: with the live progress line
    done = subprocess.run(["script", "-qec", shlex.join(line), "/dev/null"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert re.search(r"03-TR-90-MINE +(VAE|GAN) +step \d+ / 10 ", done.stdout), done.stdout
    runs = {p.name.split(".")[0]: p for p in (root / "runs").iterdir()}
    assert set(runs) >= {"03-TR-90-MINE", "04-TP-90-MINE", "05-EX-90-MINE"}, runs
    state = json.loads((runs["03-TR-90-MINE"] / "state.json").read_text())
    assert (state["status"], state["step"]) == ("finished", 10)
    index = json.loads((root / "data" / "packed" / "MINE" / "index.json").read_text())
    assert len(index["entries"]) == 3 and index["sr"] == 16000
    log = next((runs["03-TR-90-MINE"] / "logs").glob("*.out")).read_text()
    errors = next((runs["03-TR-90-MINE"] / "logs").glob("*.err")).read_text()
    for noise in ("litlogger", "`srun` command is available", "Trainer.fit` stopped"):
        assert noise not in log + errors, noise          # Lightning's noise is silenced
    reproduce = next(line for line in log.splitlines() if line.startswith("reproduce"))
    assert "dataset=custom" in reproduce and "dataset.label=MINE" in reproduce

    # the report of that run plays its audio (input, reconstruction, prior sample)
    from test_report_helpers import CHROMIUM, NO_CHROMIUM, open_in_chromium

    from ravejobs.report.cli import build_report

    target, _ = build_report([str(root)], tmp_path / "report")
    page = target.read_text()
    assert page.count("<audio controls") == 3, page[page.index("<h2>Listen"):][:2000]
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    dom = open_in_chromium(target, tmp_path / "profile", tmp_path / "own-corpus-report.png")
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert 'data-audio="ok"' in body and 'data-audio-count="3"' in body, body
