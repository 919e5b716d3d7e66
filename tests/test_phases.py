"""PhaseSchedule: the one rule for which phase a step belongs to (warmup 4)."""

from __future__ import annotations

import ast
from pathlib import Path

from ravejobs.model.phases import PhaseSchedule

ROOT = Path(__file__).resolve().parents[1]


def test_iterations_and_step_counts_agree_at_the_switch():
    p = PhaseSchedule(4)
    assert [p.of_iteration(s) for s in range(6)] == ["vae"] * 4 + ["gan"] * 2
    assert [p.trains_discriminator(s) for s in range(8)] == [False] * 5 + [True, False, True]
    assert [p.after(n) for n in range(7)] == ["vae"] * 5 + ["gan"] * 2
    assert [p.next(n) for n in range(6)] == ["vae"] * 4 + ["gan"] * 2
    assert [n for n in range(10) if p.vae_ends(n)] == [4]
    assert [p.encoder_frozen(n) for n in (3, 4, 5)] == [False, True, True]
    assert [p.fits_fidelity(n) for n in (4, 5)] == [True, False]


def test_no_other_code_compares_a_step_with_warmup():
    """The schedule is the only place: no `warmup` comparison in the model or the session."""
    for rel in ("ravejobs/model/module.py", "ravejobs/jobs/session.py"):
        tree = ast.parse((ROOT / rel).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                text = ast.unparse(node)
                assert "warmup" not in text, f"{rel}: {text}"
