"""The metrics log (issue 13): what the writer logs reads back exactly; a killed writer loses at
most its last batch and the next one goes on from whole records; the cache reads only appended
records; run folders from before the log (metrics.csv) still read, and a resumed one converts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from test_report_helpers import T0

from ravejobs.metrics import FILE, LEGACY, MetricsWriter, read_metrics
from ravejobs.metrics.cache import MetricsCache
from ravejobs.metrics.log import HEADER, RECORD, keys_file

TRICKY_KEYS = ["d", "distance", "distance9", "fidelity_95", "a_very_long_metric_name_indeed",
               "clé ünicode"]


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


def write_log(path, rows: int = 3000, seed: int = 0) -> dict:
    """Log `rows` batches with MetricsWriter; return what a reader must find (last row wins)."""
    rng = np.random.default_rng(seed)
    expected: dict = {}
    w = MetricsWriter(path)
    for i in range(rows):
        step = int(rng.integers(0, 10**12)) if i % 97 == 0 else i // 3  # repeats and jumps
        keys = TRICKY_KEYS[: 1 + i * len(TRICKY_KEYS) // rows]          # keys added over time
        x = rng.standard_normal(len(keys)) * 10.0 ** rng.integers(-300, 300, len(keys))
        values = dict(zip(keys, x.tolist(), strict=True))
        if i % 13 == 0:
            values["d"] = float("nan") if i % 2 else float("-inf")
        values["phase"] = i > rows // 2                                     # a bool is 1.0
        when = T0 + i / 7
        w.log(step, values, when=when)
        for k, v in values.items():
            expected.setdefault(k, {})[step] = (when, float(v))
    w.close()
    return expected


@pytest.mark.parametrize("seed", [0, 1])
def test_what_the_writer_logs_reads_back_exactly(tmp_path, seed):
    f = tmp_path / FILE
    expected = write_log(f, seed=seed)
    got, end = read_metrics(f)
    assert end == f.stat().st_size and (end - HEADER) % RECORD.itemsize == 0
    assert same(got, expected)
    assert keys_file(f).read_text().splitlines() == [*TRICKY_KEYS[:1], "phase", *TRICKY_KEYS[1:]]
    cache = MetricsCache(keys=None).read(f)
    for key, rows in expected.items():
        steps = sorted(rows)
        assert cache[key].step.tolist() == steps
        assert np.array_equal(cache[key].value, [rows[s][1] for s in steps], equal_nan=True)
        assert cache[key].time.tolist() == [rows[s][0] for s in steps]


def test_wanted_keys_only(tmp_path):
    f = tmp_path / FILE
    expected = write_log(f, rows=600)
    got = MetricsCache(["distance", "a_very_long_metric_name_indeed", "absent"]).read(f)
    assert set(got) == {"distance", "a_very_long_metric_name_indeed"}
    assert got["distance"].step.tolist() == sorted(expected["distance"])


def test_torn_tail_is_ignored_then_cut_by_the_next_writer(tmp_path):
    f = tmp_path / FILE
    w = MetricsWriter(f)
    w.log(1, {"distance": 0.5}, when=T0)
    w.close()
    whole = f.stat().st_size
    with f.open("ab") as fh:                      # a writer killed mid-record ...
        fh.write(b"\x07" * (RECORD.itemsize - 5))
    with keys_file(f).open("ab") as fh:           # ... and mid-way through a new key's name
        fh.write(b"half_a_na")
    got, end = read_metrics(f)
    assert got == {"distance": {1: (T0, 0.5)}} and end == whole
    w = MetricsWriter(f)                          # the resumed job
    assert f.stat().st_size == whole and keys_file(f).read_text() == "distance\n"
    w.log(2, {"distance": 0.25, "beta": 0.1}, when=T0 + 1)
    w.close()
    got, _ = read_metrics(f)
    assert got == {"distance": {1: (T0, 0.5), 2: (T0 + 1, 0.25)}, "beta": {2: (T0 + 1, 0.1)}}


def test_a_killed_writer_loses_at_most_its_last_batch(tmp_path):
    f = tmp_path / "run $x" / FILE
    script = textwrap.dedent(f"""
        import sys
        from ravejobs.metrics import MetricsWriter
        w = MetricsWriter({str(f)!r})
        step = 0
        while True:
            step += 1
            w.log(step, {{f"k{{i}}": step + i / 10 for i in range(40)}}, when=float(step))
            if step == 50:
                print("ready", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    got, _ = read_metrics(f)
    last = max(got["k0"])
    assert last > 50 and all(max(got[f"k{i}"]) >= last - 1 for i in range(40))
    for i in range(40):
        steps = sorted(got[f"k{i}"])
        assert steps == list(range(1, len(steps) + 1))
        assert all(got[f"k{i}"][s][1] == s + i / 10 for s in steps)
    w = MetricsWriter(f)                          # resumed: repeats from an earlier step
    w.log(last - 3, {"k0": -1.0}, when=0.0)
    w.close()
    again, _ = read_metrics(f)
    assert again["k0"][last - 3] == (0.0, -1.0) and again["k1"] == got["k1"]


def test_cache_reads_only_appended_records_and_matches_a_fresh_read(tmp_path):
    f = tmp_path / "run dir $x" / FILE
    w = MetricsWriter(f)
    for step in range(1, 101):
        w.log(step, {"distance": 1.0 / step, "beta": 0.1}, when=T0 + step)
    cache = MetricsCache(keys=None)
    first = cache.read(f)
    assert first["distance"].step.tolist() == list(range(1, 101))
    assert cache.bytes_read == f.stat().st_size
    before = f.stat().st_size
    # a resumed job repeats steps 91..100 with new values, then goes on
    for step in range(91, 151):
        w.log(step, {"distance": 2.0 / step, "beta": 0.1}, when=T0 + 1000 + step)
    w.close()
    again = cache.read(f)
    assert cache.bytes_read == f.stat().st_size == before + 60 * 2 * RECORD.itemsize
    fresh = MetricsCache(keys=None).read(f)
    for key in ("distance", "beta"):
        assert np.array_equal(again[key].step, fresh[key].step)
        assert np.array_equal(again[key].value, fresh[key].value)
    d = again["distance"]
    assert d.step.tolist() == list(range(1, 151))
    assert d.value[d.step.tolist().index(95)] == 2.0 / 95           # the newer row wins
    assert d.value[d.step.tolist().index(90)] == 1.0 / 90


def test_disk_cache_survives_a_new_process_and_notices_a_replaced_file(tmp_path):
    f = tmp_path / FILE
    w = MetricsWriter(f)
    for step in range(1, 51):
        w.log(step, {"distance": float(step)}, when=T0 + step)
    w.close()
    folder = tmp_path / "cache"
    MetricsCache(("distance",), folder).read(f)
    second = MetricsCache(("distance",), folder)
    assert second.read(f)["distance"].value[-1] == 50.0
    assert second.bytes_read == 0                          # all from the cache file
    f.unlink()
    keys_file(f).unlink()
    w = MetricsWriter(f)                                   # a new run in the same place
    w.log(1, {"distance": 7.0}, when=T0)
    w.close()
    third = MetricsCache(("distance",), folder)
    assert third.read(f)["distance"].value.tolist() == [7.0]
    other_keys = MetricsCache(("distance", "beta"), folder)
    assert other_keys.read(f)["distance"].value.tolist() == [7.0]
    assert other_keys.bytes_read == f.stat().st_size     # different keys: read again


def test_not_a_metrics_log_is_named(tmp_path):
    f = tmp_path / FILE
    f.write_bytes(b"something else entirely, long enough to be a header\n")
    with pytest.raises(ValueError, match=f"{f}: not a ravejobs metrics log"):
        MetricsWriter(f)


# ----------------------------------------------------------------------------- legacy CSV


def legacy_csv(path, rows: int = 600) -> dict:
    """A metrics.csv as the writer before the binary log wrote it, plus lines it skipped."""
    lines, expected = ["step,time,key,value\n"], {}
    for i in range(rows):
        step, key, value, when = i // 3, TRICKY_KEYS[i % 4], i / 7, T0 + i * 0.25
        lines.append(f"{step},{when:.3f},{key},{value:.6g}\n")
        expected.setdefault(key, {})[step] = (float(f"{when:.3f}"), float(f"{value:.6g}"))
        if i % 100 == 9:
            lines += [f"{i},{T0},broken\n", f"x{i},{T0},distance,1\n", f"{i},{T0},distance,1.2.3\n"]
    path.write_text("".join(lines) + "7,1.0,dist")   # and a line being written
    return expected


def test_a_legacy_metrics_csv_reads_through_every_reader(tmp_path):
    expected = legacy_csv(tmp_path / LEGACY)
    run_file = tmp_path / FILE                             # what RunDir.metrics_file names
    got, _ = read_metrics(run_file)
    assert same(got, expected)
    series = MetricsCache(("distance", "d")).read(run_file)
    assert set(series) == {"distance", "d"}
    assert series["distance"].step.tolist() == sorted(expected["distance"])
    assert series["distance"].value.tolist() == [expected["distance"][s][1]
                                                 for s in sorted(expected["distance"])]


def test_a_resumed_legacy_run_converts_once_and_keeps_its_history(tmp_path):
    legacy = tmp_path / LEGACY
    expected = legacy_csv(legacy)
    text = legacy.read_text()
    w = MetricsWriter(tmp_path / FILE)
    w.log(1000, {"distance": 0.125, "new_key": 3.0}, when=T0 + 9999)
    w.close()
    assert legacy.read_text() == text                      # left as it was
    got, _ = read_metrics(tmp_path / FILE)
    expected["distance"][1000] = (T0 + 9999, 0.125)
    expected["new_key"] = {1000: (T0 + 9999, 3.0)}
    assert same(got, expected)
    assert not list(tmp_path.glob(".tmp-*"))
