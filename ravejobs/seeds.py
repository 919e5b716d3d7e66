"""One reseeding rule for every training loop (the model's and the prior's).

Each step reseeds torch from (run seed, step, stream...), so a resumed run draws exactly what an
uninterrupted one draws, whatever happened before. `stream` separates independent draws at the
same step (a DDP rank, validation).
"""

from __future__ import annotations

import numpy as np


def step_seed(seed: int, step: int, *stream: int) -> int:
    """Independent, reproducible torch seed for one (run seed, step, stream...)."""
    return int(np.random.SeedSequence([seed, step, *stream]).generate_state(1, np.uint64)[0] >> 1)
