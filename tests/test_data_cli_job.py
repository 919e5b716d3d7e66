"""The corpus CLI through `ravejobs.cli.main`, the demo corpus, and the prepare stage job."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from test_data_helpers import write_bad, write_good

from ravejobs.cli import main
from ravejobs.data.demo import make_demo_corpus
from ravejobs.data.store import PackedStore


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_cli_prepare_reports_bad_files(tmp_path: Path, capsys) -> None:
    src = tmp_path / "my corpus $HOME"
    write_good(src)
    write_bad(src)
    out = tmp_path / "out 'q'"
    assert main(["prepare", str(src), "--sr", "24000", "--out", str(out), "--quiet",
                 "--workers", "1"]) == 0
    text = capsys.readouterr().out
    assert "prepared 3 of 7 audio files" in text
    assert "notes.wav" in text and "empty.wav: empty file" in text
    assert PackedStore(out).sr == 24000
    assert main(["prepare", str(src), "--out", str(out), "--sr", "24000", "--quiet",
                 "--strict"]) == 1


def test_cli_prepare_augment_makes_variants(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_good(src)
    assert main(["prepare", str(src), "--sr", "16000", "--augment", "--out",
                 str(tmp_path / "aug"), "--quiet", "--workers", "1"]) == 0
    store = PackedStore(tmp_path / "aug")
    assert len(store.files) == 3 * 5
    assert store.index["augment"] is True
    assert sorted({e["variant"] for e in store.files}) == [0, 1, 2, 3, 4]


def test_cli_prepare_seed_and_force(tmp_path: Path, capsys) -> None:
    src = tmp_path / "src"
    write_good(src)
    out = tmp_path / "aug"

    def prepare(*extra: str) -> tuple[PackedStore, str]:
        assert main(["prepare", str(src), "--sr", "16000", "--augment", "--out", str(out),
                     "--quiet", "--workers", "1", *extra]) == 0
        return PackedStore(out), capsys.readouterr().out

    first, _ = prepare("--seed", "1")
    assert first.index["seed"] == 1
    data_file = first.data_file
    stamp = data_file.stat().st_mtime_ns
    again, text = prepare("--seed", "1")
    assert "store up to date" in text and data_file.stat().st_mtime_ns == stamp
    forced, text = prepare("--seed", "1", "--force")
    assert "store up to date" not in text and "prepared 3 of 3" in text
    assert forced.data_file.stat().st_mtime_ns != stamp       # rebuilt ...
    assert forced.fingerprint == first.fingerprint             # ... to the same store
    other, text = prepare("--seed", "2")                       # another seed: rebuilt
    assert "store up to date" not in text and other.index["seed"] == 2
    assert other.fingerprint != first.fingerprint
    originals = [i for i, e in enumerate(other.files) if e["variant"] == 0]
    variants = [i for i, e in enumerate(other.files) if e["variant"] != 0]
    back, _ = prepare("--seed", "1")
    for i in originals:    # the unaugmented signals do not depend on the seed
        assert (other.signal(i) == back.signal(i)).all()
    assert any(other.signal(i).shape != back.signal(i).shape
               or not (other.signal(i) == back.signal(i)).all() for i in variants)
    assert back.fingerprint == first.fingerprint               # seeded: reproducible


def test_cli_errors_name_the_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty corpus").mkdir()
    assert main(["prepare", str(tmp_path / "empty corpus"), "--out", str(tmp_path / "o")]) == 2
    assert "empty corpus: no audio files found" in capsys.readouterr().err
    assert main(["duration", str(tmp_path / "missing")]) == 2
    assert "missing: no such folder" in capsys.readouterr().err


def test_demo_corpus_is_deterministic(tmp_path: Path) -> None:
    a = make_demo_corpus(tmp_path / "a", sr=8000, seconds=25.0)
    assert main(["demo", str(tmp_path / "b"), "--sr", "8000", "--seconds", "25"]) == 0
    assert digest(a) == digest(tmp_path / "b")
    names = sorted(p.name for p in a.iterdir())
    assert [n.split("-")[1] for n in names] == ["tone.wav", "chord.wav", "noise.wav",
                                                 "clicks.wav", "speech.wav"]
    c = make_demo_corpus(tmp_path / "c", sr=8000, seconds=25.0, seed=1)
    assert digest(c) != digest(a)


def test_prepare_job_on_a_run_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path / "root dir"))
    from compose import compose_spec

    from ravejobs.jobs.runner import StageRunner
    from ravejobs.rundir import RunDir

    spec = compose_spec(["dataset=demo"])
    assert spec.dataset.generate
    run = RunDir.for_spec(spec, "prepare")
    run.create(spec)
    summary = StageRunner("prepare", str(run.path))()
    store = PackedStore(spec.dataset.packed)
    assert summary["fingerprint"] == store.fingerprint and not summary["skipped"]
    assert store.sr == spec.dataset.sr == 16000
    assert 55 <= store.duration_s <= 65
    state = json.loads(run.state_file.read_text())
    assert state["status"] == "finished"
    assert state["extra"]["data"]["fingerprint"] == store.fingerprint
    # again: the store is current, nothing is redone
    summary = StageRunner("prepare", str(run.path))()
    assert summary["skipped"] and summary["fingerprint"] == store.fingerprint
    out = capsys.readouterr().out
    assert "ravejobs job" in out and "store up to date" in out


def test_prepare_job_failure_is_recorded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path))
    from compose import compose_spec

    from ravejobs.jobs.runner import StageRunner
    from ravejobs.rundir import RunDir

    spec = compose_spec(["dataset=demo", "dataset.generate=false", "dry_run=true"])
    run = RunDir.for_spec(spec, "prepare")
    run.create(spec)
    with pytest.raises(FileNotFoundError, match="dataset.raw"):
        StageRunner("prepare", str(run.path))()
    assert run.state().status == "failed" and "dataset.raw" in run.state().message
