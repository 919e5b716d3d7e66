"""The method/attribute layout that nn~ reads from a TorchScript file.

Matched against acids-ircam/nn_tilde at ca97f82 (2025-07, nn~ 1.6 line: `python_tools/module.py`
`Module.register_method`, `src/backend/backend.cpp`) and the layout RAVE v1's
`export_rave.py` wrote (which nn~ 1.x reads through the same fall-back path):

* every method nn~ may call is a TorchScript method taking and returning one float tensor
  (batch, channels, time) and has a buffer `<method>_params` =
  [in_channels, in_ratio, out_channels, out_ratio] (a 1-D integer tensor of 4 values);
* nn~ lists methods through an exported `get_methods() -> List[str]` when present, otherwise
  by probing which methods have a `<method>_params` attribute; settable attributes through
  `get_attributes() -> List[str]` (we have none);
* RAVE's exports also carry the buffers `sampling_rate`, `latent_size` and `max_batch_size`
  (0-d integer tensors); nn~ and users' patches read them.

nn~'s backend feeds a method with ratio r the last sample of every r-sample block of the
signal and repeats each output frame r times, so encode's output (B, latent, T / hop) and
decode's input are latent frames while audio is at the model's rate.
"""

from __future__ import annotations

import torch

MAX_BATCH_SIZE = 8  # upstream cached_conv's default; mc.nn~ batches up to this many voices


def method_params(in_channels: int, in_ratio: int, out_channels: int,
                  out_ratio: int) -> torch.Tensor:
    """The `<method>_params` buffer of one registered method."""
    return torch.tensor([in_channels, in_ratio, out_channels, out_ratio], dtype=torch.long)


def register(module: torch.nn.Module, name: str, in_channels: int, in_ratio: int,
             out_channels: int, out_ratio: int) -> None:
    """Register `name` as an nn~ method: its params buffer, and its place in `get_methods`."""
    if not hasattr(module, name):
        raise AttributeError(f"{type(module).__name__} has no method {name!r} to register")
    module.register_buffer(f"{name}_params",
                           method_params(in_channels, in_ratio, out_channels, out_ratio))
    methods = list(getattr(module, "methods", []))
    module.methods = [*methods, name]


def check_layout(model: torch.jit.ScriptModule) -> dict[str, list[int]]:
    """The methods and params an nn~ backend would see; raise if the layout is broken."""
    methods = list(model.get_methods())
    found: dict[str, list[int]] = {}
    for name in methods:
        params = getattr(model, f"{name}_params", None)
        if params is None or tuple(params.shape) != (4,):
            raise ValueError(f"method {name}: {name}_params must be a tensor of 4 values")
        if not hasattr(model, name):
            raise ValueError(f"method {name} listed by get_methods but not compiled")
        found[name] = [int(v) for v in params]
    for attr in ("sampling_rate", "latent_size", "max_batch_size"):
        if not hasattr(model, attr):
            raise ValueError(f"missing attribute {attr}")
    return found
