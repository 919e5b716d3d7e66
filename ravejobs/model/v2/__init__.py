"""The RAVE v2 family (acids-rave 2.3.1's v2, v2_small, causal, noise, wasserstein configs).

`build_model` is the one place that picks the model class from `model.arch`.
"""

from __future__ import annotations

from typing import Any

from ravejobs.config import KLSpec, ModelSpec


def build_model(model: ModelSpec, warmup: int, kl: KLSpec, seed: int = 0) -> Any:
    """RAVE (v1) or RAVEv2 for this model spec."""
    if model.arch == "v2":
        from ravejobs.model.v2.module import RAVEv2

        return RAVEv2(model, warmup, kl, seed)
    from ravejobs.model.module import RAVE

    return RAVE(model, warmup, kl, seed)
