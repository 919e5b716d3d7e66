"""Metrics collection: the vectorised reader agrees with read_metrics row for row, the cache
reads only appended bytes, and run records derive the table's numbers from real run folders."""

from __future__ import annotations

import numpy as np
import pytest
from test_report_helpers import T0, prior_run, spec_at, train_run

from ravejobs.metrics import HEADER, MetricsWriter, read_metrics
from ravejobs.metrics.cache import MetricsCache
from ravejobs.metrics.fastcsv import parse_rows, read_rows
from ravejobs.naming import signature
from ravejobs.report.collect import collect, sweep_runs

TRICKY_KEYS = ["d", "distance", "distance9", "sixteen_chars_ok", "seventeen_chars_x",
               "a_very_long_metric_name_indeed", "fidelity_95", "fidelity_99"]


def tricky_file(path, rows: int = 3000, seed: int = 0, short_lines: bool = False) -> None:
    """Rows in every number form read_metrics accepts, plus rows it skips.

    short_lines: add lines with too few fields, which make a block not plain CSV.
    """
    rng = np.random.default_rng(seed)
    lines = [HEADER]
    for i in range(rows):
        step = int(rng.integers(0, 10**9)) if i % 97 == 0 else i // 3
        key = TRICKY_KEYS[i % len(TRICKY_KEYS)]
        x = float(rng.standard_normal() * 10.0 ** rng.integers(-12, 12))
        value = [f"{x:.6g}", repr(x), f"{x:.3f}", "nan", "-inf", f"{x:+.2e}", "1.", ".5",
                 f"{int(x)}", f"{x:.6G}", " 2.5", "1_0"][i % 12]
        when = f"{T0 + i * 0.37:.3f}" if i % 50 else repr(T0 + i / 7)
        lines.append(f"{step},{when},{key},{value}\n")
        if short_lines and i % 400 == 7:
            lines.append(f"{i},{T0},broken\n")          # skipped by both readers
        if i % 500 == 9:
            lines.append(f"x{i},{T0},distance,1\n")      # step not an int: skipped
        if i % 600 == 3:
            lines.append(f"{i},{T0},distance,1.2.3\n")   # not a float: skipped
    path.write_text("".join(lines))


def as_dicts(rows) -> dict[str, dict[int, tuple[float, float]]]:
    out: dict[str, dict[int, tuple[float, float]]] = {}
    for c, s, t, v in zip(rows.code.tolist(), rows.step.tolist(), rows.time.tolist(),
                          rows.value.tolist(), strict=True):
        out.setdefault(rows.keys[c], {})[s] = (t, v)
    return out


def same(a: dict, b: dict) -> bool:
    """Equal, with nan equal to nan."""
    if a.keys() != b.keys():
        return False
    for key in a:
        if a[key].keys() != b[key].keys():
            return False
        for step, (t, v) in a[key].items():
            t2, v2 = b[key][step]
            if t != t2 or not (v == v2 or (np.isnan(v) and np.isnan(v2))):
                return False
    return True


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_reader_matches_read_metrics_on_every_number_form(tmp_path, seed):
    f = tmp_path / "metrics.csv"
    tricky_file(f, seed=seed)
    expected, end = read_metrics(f)
    rows, offset = read_rows(f)
    assert offset == end == f.stat().st_size
    assert same(as_dicts(rows), expected)
    assert {"a_very_long_metric_name_indeed", "seventeen_chars_x"} <= set(expected)


def test_fast_reader_matches_read_metrics_on_what_metrics_writer_writes(tmp_path):
    f = tmp_path / "metrics.csv"
    rng = np.random.default_rng(5)
    w = MetricsWriter(f)
    for step in range(0, 30_000, 7):
        x = rng.standard_normal(4) * 10.0 ** rng.integers(-9, 9, 4)
        w.log(step, {"distance": x[0], "beta": abs(x[1]), "loss_gen": x[2], "phase": step > 9e3,
                     "fidelity_95": float("nan") if step % 1000 == 0 else x[3]},
              when=T0 + step * 0.25)
    w.close()
    expected, end = read_metrics(f)
    rows, offset = read_rows(f)
    assert offset == end and same(as_dicts(rows), expected)


def test_many_distinct_keys(tmp_path):
    f = tmp_path / "metrics.csv"
    f.write_text(HEADER + "".join(f"{i},{T0 + i:.3f},k{i % 300},{i / 7:.6g}\n"
                                  for i in range(1200)))
    expected, _ = read_metrics(f)
    rows, _ = read_rows(f)
    assert len(expected) == 300 and same(as_dicts(rows), expected)


def test_cache_falls_back_to_read_metrics_for_irregular_blocks(tmp_path):
    f = tmp_path / "metrics.csv"
    tricky_file(f, short_lines=True)
    assert read_rows(f)[0] is None
    expected, _ = read_metrics(f)
    got = MetricsCache(keys=None).read(f)
    assert set(got) == set(expected)
    for key, series in got.items():
        steps = sorted(expected[key])
        assert series.step.tolist() == steps
        assert np.array_equal(series.value, [expected[key][s][1] for s in steps], equal_nan=True)


def test_fast_reader_with_wanted_keys_returns_only_those(tmp_path):
    f = tmp_path / "metrics.csv"
    tricky_file(f)
    expected, _ = read_metrics(f)
    wanted = ["distance", "a_very_long_metric_name_indeed", "absent"]
    rows, _ = read_rows(f, 0, wanted)
    got = as_dicts(rows)
    assert set(got) == {"distance", "a_very_long_metric_name_indeed"}
    assert same(got, {k: expected[k] for k in got})


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_reader_with_wanted_keys_of_8_to_16_bytes(tmp_path, seed):
    f = tmp_path / "metrics.csv"
    tricky_file(f, seed=seed, short_lines=bool(seed))
    expected, _ = read_metrics(f)
    wanted = ["distance", "fidelity_95", "sixteen_chars_ok", "distance9", "absent_key"]
    rows, _ = read_rows(f, 0, wanted)
    got = as_dicts(rows)
    assert set(got) == {"distance", "fidelity_95", "sixteen_chars_ok", "distance9"}
    assert same(got, {k: expected[k] for k in got})


def test_short_files_and_last_lines():
    for data in (b"1,2.5,distance,3\n", b"7,1.0,distance9,-1\n1,2.5,distance,3\n",
                 b"12345678,1.0,distance,1\n"):
        rows = parse_rows(data, ["distance", "distance9"])
        expected = {}
        for line in data.decode().splitlines():
            s, t, k, v = line.split(",")
            expected.setdefault(k, {})[int(s)] = (float(t), float(v))
        assert as_dicts(rows) == expected


def test_non_plain_csv_is_refused_and_partial_lines_wait(tmp_path):
    assert parse_rows(b'1,2,"quoted,key",3\n') is None
    assert parse_rows(b"1,2,k,3\n\n") is None
    f = tmp_path / "metrics.csv"
    f.write_text(HEADER + "1,10.0,distance,0.5\n2,11.0,dist")
    rows, offset = read_rows(f)
    assert as_dicts(rows) == {"distance": {1: (10.0, 0.5)}}
    assert offset == len(HEADER) + len("1,10.0,distance,0.5\n")


def test_cache_reads_only_appended_bytes_and_matches_a_fresh_read(tmp_path):
    f = tmp_path / "run dir $x" / "metrics.csv"
    w = MetricsWriter(f)
    for step in range(1, 101):
        w.log(step, {"distance": 1.0 / step, "beta": 0.1}, when=T0 + step)
    cache = MetricsCache(keys=None)
    first = cache.read(f)
    assert first["distance"].step.tolist() == list(range(1, 101))
    size = f.stat().st_size
    assert cache.bytes_read == size
    # a resumed job repeats steps 91..100 with new values, then goes on
    for step in range(91, 151):
        w.log(step, {"distance": 2.0 / step, "beta": 0.1}, when=T0 + 1000 + step)
    w.close()
    again = cache.read(f)
    assert cache.bytes_read == f.stat().st_size            # only the new bytes were parsed
    fresh = MetricsCache(keys=None).read(f)
    for key in ("distance", "beta"):
        assert np.array_equal(again[key].step, fresh[key].step)
        assert np.array_equal(again[key].value, fresh[key].value)
    d = again["distance"]
    assert d.step.tolist() == list(range(1, 151))
    # the newer row wins
    assert d.value[d.step.tolist().index(95)] == pytest.approx(2.0 / 95, rel=1e-5)
    assert d.value[d.step.tolist().index(90)] == pytest.approx(1.0 / 90, rel=1e-5)


def test_disk_cache_survives_a_new_process_and_notices_a_replaced_file(tmp_path):
    f = tmp_path / "metrics.csv"
    w = MetricsWriter(f)
    for step in range(1, 51):
        w.log(step, {"distance": float(step)}, when=T0 + step)
    w.close()
    folder = tmp_path / "cache"
    MetricsCache(("distance",), folder).read(f)
    second = MetricsCache(("distance",), folder)
    assert second.read(f)["distance"].value[-1] == 50.0
    assert second.bytes_read == 0                          # all from the cache file
    f.write_text(HEADER + f"1,{T0},distance,7\n")          # a new run in the same place
    third = MetricsCache(("distance",), folder)
    assert third.read(f)["distance"].value.tolist() == [7.0]
    other_keys = MetricsCache(("distance", "beta"), folder)
    assert other_keys.read(f)["distance"].value.tolist() == [7.0]
    assert other_keys.bytes_read == f.stat().st_size     # different keys: read again


@pytest.fixture(scope="module")
def sweep_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("report") / "root with 'quotes' $HOME"
    specs = [spec_at(root, f"phase.warmup={w}", f"seed={s}") for w in (20, 30) for s in (0, 1)]
    for i, spec in enumerate(specs):
        train_run(spec, final=1.0 + 0.25 * i, gap_after=20 if i == 0 else None, gap_s=3600.0)
    prior_run(specs[0])
    return root, specs


def test_records_from_run_folders(sweep_root):
    root, specs = sweep_root
    label, runs = sweep_runs(root)
    assert len(runs) == 5
    records = collect([str(root)], MetricsCache())
    by_name = {(r.run.stage, r.run.signature): r for r in records}
    first = by_name[("train", records[0].run.signature)]
    assert {r.run.stage for r in records} == {"train", "prior"}
    train = [r for r in records if r.run.stage == "train"]
    assert len(train) == 4
    finals = {signature(spec): 1.0 + 0.25 * i for i, spec in enumerate(specs)}
    for r in train:
        assert r.steps_done == r.spec.phase.max_steps
        assert r.kept_size == 5
        assert r.budget == r.spec.phase.warmup + r.spec.phase.gan_steps
        # distance written as final + 5 exp(-step/20)
        expected = finals[r.run.signature] + 5.0 * np.exp(-r.steps_done / 20.0)
        assert r.final_distance == pytest.approx(expected, rel=1e-5)
        assert r.gpu_hours == 0.0                          # cluster=local: no GPU
    # 3 s a step, logged every 2 steps: the 1 h queue wait of the first run is left out
    waits = [r for r in train if r.metrics["distance"].time.max()
             - r.metrics["distance"].time.min() > 3000]
    assert len(waits) == 1
    for r in train:
        intervals = len(r.metrics["distance"]) - 1 - any(r is w for w in waits)  # minus the wait
        assert r.wall_s == pytest.approx(intervals * 6.0, abs=0.01)
    prior = next(r for r in records if r.run.stage == "prior")
    assert prior.steps_done == 40 and prior.final_distance is None
    assert prior.metrics["prior_loss"].value[-1] == pytest.approx(3.0 / 40)
    assert first.sweep == label


def test_unknown_sweep_is_named_in_the_error(tmp_path, monkeypatch):
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="nope"):
        collect(["nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no run folders"):
        collect([str(tmp_path / "empty")])
