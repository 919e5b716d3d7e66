"""Read an upstream RAVE v1 (b9e4865) state dict into our modules.

Our layers come in upstream's order (encoder, decoder trunk then waveform, loudness and noise
heads, discriminator scales), so the import pairs the two models' layers in order and renames
each tensor: `weight_g` / `weight_v` (old-style weight norm) become our parametrization's
`original0` / `original1`. Shapes are checked pair by pair, so a model of another shape fails
with the first layer that differs. Upstream's PQMF and loudness buffers are not read: ours are
computed the same way (tests/test_upstream_v1.py compares them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

_SUFFIX = {"weight_g": "parametrizations.weight.original0",
           "weight_v": "parametrizations.weight.original1"}
_PARTS = ("encoder", "decoder", "discriminator")
_SKIP = ("target_size",)  # upstream's noise generator keeps its hop as a buffer; ours an int
_FIDELITY = {"latent_pca": "fidelity.components", "latent_mean": "fidelity.mean",
             "fidelity": "fidelity.cumvar"}


def _owner(key: str) -> tuple[str, str]:
    """(layer, tensor name) of a state-dict key, ours or upstream's."""
    if ".parametrizations." in key:
        layer, rest = key.split(".parametrizations.", 1)
        return layer, "parametrizations." + rest
    layer, _, name = key.rpartition(".")
    return layer, name


def _grouped(keys: Iterable[str]) -> list[tuple[str, list[str]]]:
    groups: list[tuple[str, list[str]]] = []
    for key in keys:
        layer, _ = _owner(key)
        if not groups or groups[-1][0] != layer:
            groups.append((layer, []))
        groups[-1][1].append(key)
    return groups


def key_map(model: nn.Module, upstream: Mapping[str, tuple[int, ...] | torch.Tensor]
            ) -> dict[str, str]:
    """Upstream key -> our key for every encoder, decoder and discriminator tensor and the PCA.

    `upstream` maps upstream keys to tensors or shapes; the model is one of ours (`RAVE`).
    """
    ours = model.state_dict()

    def shape(v: tuple[int, ...] | torch.Tensor) -> tuple[int, ...]:
        return tuple(v.shape) if isinstance(v, torch.Tensor) else tuple(v)

    mapping: dict[str, str] = {}
    for part in _PARTS:
        theirs = _grouped(k for k in upstream
                          if k.startswith(part + ".") and _owner(k)[1] not in _SKIP)
        mine = _grouped(k for k in ours if k.startswith(part + "."))
        if len(theirs) != len(mine):
            raise ValueError(f"{part}: upstream has {len(theirs)} layers with weights, ours "
                             f"{len(mine)}; not the same architecture")
        for (_, t_keys), (m_layer, _) in zip(theirs, mine, strict=True):
            for key in t_keys:
                name = _owner(key)[1]
                target = f"{m_layer}.{_SUFFIX.get(name, name)}"
                if target not in ours:
                    raise ValueError(f"{key}: no {target} in our model")
                if shape(upstream[key]) != tuple(ours[target].shape):
                    raise ValueError(f"{key} {shape(upstream[key])} does not fit {target} "
                                     f"{tuple(ours[target].shape)}")
                mapping[key] = target
    for key, target in _FIDELITY.items():
        if key in upstream and target in ours:
            mapping[key] = target
    return mapping


def load_upstream_state(model: nn.Module, upstream: Mapping[str, torch.Tensor]) -> None:
    """Copy an upstream v1 state dict (e.g. a Lightning checkpoint's `state_dict`) into ours."""
    mapping = key_map(model, upstream)
    state = model.state_dict()
    for key, target in mapping.items():
        state[target] = upstream[key].to(state[target].dtype).reshape(state[target].shape)
    model.load_state_dict(state)
    if "fidelity" in upstream and hasattr(model, "fidelity"):
        if bool((upstream["fidelity"] != 0).any()):  # upstream fitted a PCA
            model.fidelity.computed_at.fill_(0)
