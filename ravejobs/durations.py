"""The one duration formatter: seconds to text, in the few forms people read them in.

Bottom layer (no torch, no scheduler), so the header, `status`, the progress line, `report` and
the data tools share it. Each form is kept because a reader expects it:

    "slurm"  1-02:03:04 / 02:03:04   what sbatch --time, sacct and seff print (header, footer)
    "eta"    1:02:05 / 2:05          a short count-down on the live progress line
    "age"    2m05s / 3h04m / 1d02h   two units, for ages in the `status` table
    "hours"  12m05s / 83h19m         two units, hours not wrapped: the report's wall time
    "hms"    10h 31m 12s             the lab notebook's corpus durations (hours not wrapped)

None (unknown) prints as "—" in every form.
"""

from __future__ import annotations

from typing import Literal

Form = Literal["slurm", "eta", "age", "hours", "hms"]
UNKNOWN = "—"


def format_duration(seconds: float | None, form: Form = "slurm") -> str:
    """`seconds` (rounded to whole seconds, negatives as 0) in `form` (see module docstring)."""
    if seconds is None:
        return UNKNOWN
    total = max(0, int(round(seconds)))
    days, rest = divmod(total, 86400)
    h, m, s = rest // 3600, rest % 3600 // 60, rest % 60
    if form == "slurm":
        clock = f"{h:02d}:{m:02d}:{s:02d}"
        return f"{days}-{clock}" if days else clock
    if form == "eta":
        return f"{total // 3600}:{m:02d}:{s:02d}" if total >= 3600 else f"{m}:{s:02d}"
    if form == "age":
        if total < 3600:
            return f"{m}m{s:02d}s"
        return f"{total // 3600}h{m:02d}m" if total < 86400 else f"{days}d{h:02d}h"
    if form == "hours":  # rounded to the minute from an hour on, so long runs compare at a glance
        if total < 3600:
            return f"{m}m{s:02d}s"
        minutes = int(round(seconds / 60))
        return f"{minutes // 60}h{minutes % 60:02d}m"
    if form == "hms":
        return f"{total // 3600}h {m}m {s}s"
    raise ValueError(f"duration form {form!r}: one of slurm, eta, age, hours, hms")
