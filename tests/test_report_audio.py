"""Audio to listen to: clips written in the run folder at each validation, the newest embedded
per run in the report as <audio> players that load in headless Chromium."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf
from test_report_helpers import (
    CHROMIUM,
    NO_CHROMIUM,
    open_in_chromium,
    prior_run,
    spec_at,
    train_run,
)

from ravejobs import listening
from ravejobs.report.cli import build_report


def tone(sr: int, seconds: float, hz: float = 220.0) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * hz * np.arange(int(sr * seconds)) / sr)


def test_clips_are_cut_kept_for_the_newest_steps_and_found(tmp_path):
    sr = 16000
    for step in (10, 20, 30, 40):
        listening.write_clips(tmp_path, step, {"input": tone(sr, 9.0), "recon": tone(sr, 1.0)},
                              sr)
    assert listening.steps(tmp_path) == {20, 30, 40}           # KEEP_STEPS newest
    step, clips = listening.latest_clips(tmp_path)
    assert step == 40 and set(clips) == {"input", "recon"}
    data, rate = sf.read(clips["input"])
    assert rate == sr and len(data) == int(listening.SECONDS * sr)
    with pytest.raises(ValueError, match="audio kind 'noise'"):
        listening.write_clips(tmp_path, 50, {"noise": tone(sr, 1.0)}, sr)
    assert listening.latest_clips(tmp_path / "nothing") is None


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio") / "root with 'quotes' $HOME"
    specs = [spec_at(root, f"seed={s}") for s in (0, 1)]
    runs = [train_run(spec) for spec in specs]
    prior = prior_run(specs[0])
    sr = specs[0].dataset.sr
    for step in (20, 40):
        listening.write_clips(runs[0].path, step,
                              {"input": tone(sr, 2.0), "recon": tone(sr, 2.0, 330.0)}, sr)
    listening.write_clips(prior.path, 8, {"prior": tone(sr, 2.0, 440.0)}, sr)
    out = tmp_path_factory.mktemp("out") / "report $dir"
    target, _ = build_report([str(root)], out)
    return target, runs, prior


def test_report_embeds_the_newest_clips_per_run(report):
    target, runs, prior = report
    page = target.read_text()
    players = re.findall(r'<audio controls preload="metadata" src="([^"]+)">', page)
    label = f"{runs[0].name}.{runs[0].signature}"
    assert players == [f"audio/{label}/step-40-input.wav", f"audio/{label}/step-40-recon.wav",
                       f"audio/{prior.name}.{prior.signature}/step-8-prior.wav"]
    for src in players:
        assert (target.parent / src).is_file()
    assert f'data-audio-run="{runs[1].name}.{runs[1].signature}"' not in page  # no clips: no row


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_report_audio_plays_in_headless_chromium(report, tmp_path):
    target, _, _ = report
    dom = open_in_chromium(target, tmp_path / "profile", tmp_path / "report-audio.png")
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert 'data-audio-count="3"' in body and 'data-audio="ok"' in body, body
