"""Export one trained run: find its model (and prior), script it, write it atomically, check it.

The written file is loaded back with `torch.jit.load` and run on two successive buffers before
the export counts as done, so a file that nn~ would reject never reaches the export folder
under its final name.
"""

from __future__ import annotations

import io
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ravejobs import trained_run
from ravejobs.atomic import atomic_write_bytes
from ravejobs.errors import StageRefused
from ravejobs.rundir import RunDir

BUFFER = 2048  # nn~'s default buffer size, the block size the check and the benchmark use


class ExportRefused(StageRefused):
    """The run cannot be exported (no model, VAE-only model, prior of another checkpoint)."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    streaming: bool
    methods: dict[str, list[int]]
    sr: int
    hop: int
    latent_size: int
    model_checkpoint: str
    model_step: int
    prior: str
    latency: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"file": str(self.path), "streaming": self.streaming, "methods": self.methods,
                "sampling_rate": self.sr, "hop": self.hop, "latent_size": self.latent_size,
                "model_checkpoint": self.model_checkpoint, "model_step": self.model_step,
                "prior": self.prior, "latency_samples": self.latency,
                "bytes": self.path.stat().st_size,
                "seconds": round(self.seconds, 3)}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def export_filename(model_run: RunDir) -> str:
    """`03-TR-07-AS-AUG-1a2b3c4d.ts`: one dot only, because nn~ names models by file stem."""
    return f"{model_run.name}-{model_run.signature}.ts"


def load_prior_for(prior_run: RunDir, model: Any) -> tuple[Any, Path]:
    """The prior trained on exactly this model checkpoint (same step), from `prior.pt`."""
    from ravejobs.prior.model import load_prior

    path = prior_run.path / "prior.pt"
    if not path.exists():
        raise ExportRefused(f"no trained prior at {path}; run stage=prior first, or export "
                            "with prior=none")
    info = torch.load(path, map_location="cpu", weights_only=False)
    ref = info.get("model", {})
    if int(ref.get("step", -1)) != int(model.step):
        raise ExportRefused(
            f"{path} was trained on latents of model step {ref.get('step')} "
            f"({ref.get('checkpoint')}), but the model is now at step {model.step} "
            f"({model.checkpoint_path}); train the prior again (stage=prior)")
    return load_prior(path), path


def verify(data: bytes, streaming: bool, hop: int) -> dict[str, list[int]]:
    """Load the serialised module as nn~ would, run every method on two buffers.

    The buffer is nn~'s 2048 samples, or the smallest multiple of the hop above it.
    """
    from ravejobs.export.nn_tilde import check_layout

    m = torch.jit.load(io.BytesIO(data), map_location="cpu")
    methods = check_layout(m)
    if bool(m.is_streaming()) != streaming:
        raise RuntimeError("exported module's streaming flag does not match the request")
    block = math.lcm(BUFFER, hop)
    with torch.inference_mode():
        for name, (c_in, r_in, c_out, r_out) in methods.items():
            for _ in range(2):
                y = getattr(m, name)(torch.zeros(1, c_in, block // r_in))
                if tuple(y.shape) != (1, c_out, block // r_out) or not torch.isfinite(y).all():
                    raise RuntimeError(f"exported {name} gave {tuple(y.shape)} for a "
                                       f"{block}-sample buffer; expected "
                                       f"{(1, c_out, block // r_out)} finite values")
    return methods


def export_run(model_run: RunDir, out: str | Path, streaming: bool = False,
               prior_run: RunDir | None = None) -> ExportResult:
    """Script the model of `model_run` (and the prior of `prior_run`) into the file `out`.

    Default, as upstream v1 without `--cached`: every call on its own (stateless). `streaming`
    (our extra, `ravejobs export --streaming`): cached convolutions carry state from buffer to
    buffer; a centred (non-`no_latency`) model then adds latency.
    """
    from ravejobs.export.scripted import build

    start = time.monotonic()
    model = trained_run.load_model(model_run, "export", ExportRefused)
    prior, prior_path = (load_prior_for(prior_run, model) if prior_run is not None
                         else (None, None))
    cfg = model.model.cfg
    scripted = build(model, streaming, prior)
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    data = buffer.getvalue()
    methods = verify(data, streaming, int(model.hop))
    path = atomic_write_bytes(Path(out), data)
    os.chmod(path, 0o666 & ~_umask())   # mkstemp makes 0600; the file is for sharing
    return ExportResult(path=path, streaming=streaming, methods=methods, sr=int(cfg.sr),
                        hop=int(model.hop), latent_size=int(model.latent_size),
                        model_checkpoint=str(model.checkpoint_path), model_step=int(model.step),
                        prior=str(prior_path or ""), latency=int(scripted.forward_latency),
                        seconds=time.monotonic() - start)
