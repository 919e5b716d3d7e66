"""Parsing sacct's text: requeued runs folded into one record, pending arrays expanded, units."""

from __future__ import annotations

from ravejobs import sacct_records as sr

HEADER = "|".join(sr.FIELDS)
# Rows as `sacct -P -n --duplicates` prints them (JobID, JobIDRaw, State, ExitCode, Elapsed,
# TotalCPU, AllocCPUS, MaxRSS, ReqMem, ReqTRES, AllocTRES, NodeList, Start, End).
ROWS = """\
7_1|9|REQUEUED|0:0|00:01:00|00:45.500|2||4G|cpu=2,gres/gpu=1,mem=4G|cpu=2,gres/gpu:a100=1,mem=4G|n1|x|y
7_1.batch|9.batch|CANCELLED|0:15|00:01:00|00:45.500|2|1500M|||cpu=2,mem=4G|n1|x|y
7_1|9|COMPLETED|0:0|00:00:30|00:29|2||4G|cpu=2,gres/gpu=1,mem=4G|cpu=2,gres/gpu:a100=1,mem=4G|n2|x|y
7_1.batch|9.batch|COMPLETED|0:0|00:00:30|00:29|2|1024K|||cpu=2,mem=4G|n2|x|y
7_1.0|9.0|COMPLETED|0:0|00:00:29|00:28|2|2G|||cpu=2,mem=4G|n2|x|y
7_[2-4,6%2]|7|PENDING|0:0|00:00:00|00:00:00|2||4G|cpu=2,mem=4G||None assigned|Unknown|Unknown
"""


def test_requeued_runs_fold_into_one_record():
    rec = sr.parse_sacct(ROWS)["7_1"]
    assert (rec.state, rec.node, rec.restarts, rec.raw_id) == ("COMPLETED", "n2", 1, "9")
    assert rec.wall_s == 90.0 and rec.elapsed_s == 30.0
    assert rec.total_cpu_s == 45.5 + 29.0
    assert rec.max_rss_bytes == 2 * 1024**3       # the peak over every step of every run
    assert rec.req_mem_bytes == 4 * 1024**3
    assert (rec.gpus, rec.gpu_type) == (1, "a100")
    eff = sr.efficiency(rec)
    assert eff.core_walltime_s == 180.0
    assert round(eff.cpu_pct, 2) == round(100 * 74.5 / 180, 2)
    assert eff.mem_pct == 50.0


def test_pending_array_remainder_is_expanded_to_tasks():
    records = sr.parse_sacct(ROWS)
    assert sorted(records) == ["7_1", "7_2", "7_3", "7_4", "7_6"]
    assert all(records[k].state == "PENDING" and records[k].node == "" for k in
               ("7_2", "7_3", "7_4", "7_6"))
    assert sr.expand_array_ids("5_[0-6:3]") == ["5_0", "5_3", "5_6"]
    assert sr.expand_array_ids("5_2") == ["5_2"]


def test_units_and_durations():
    assert sr.parse_duration("1-02:03:04") == 93784
    assert sr.parse_duration("05:07.250") == 307.25
    assert sr.parse_duration("") == 0.0
    assert sr.parse_memory("94648K") == 94648 * 1024
    assert sr.parse_memory("4000Mc") == 4000 * 1024**2
    assert sr.parse_memory("1.5G") == int(1.5 * 1024**3)
    assert sr.parse_memory("") is None
    assert sr.format_bytes(3 * 1024**2) == "3.00 MB"
