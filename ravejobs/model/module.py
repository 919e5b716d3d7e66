"""RAVE v1 as a plain torch module with an explicit step counter and one training iteration
(`train_step`); Lightning drives it from the runtime (`jobs/lightning_step.py`), not from here.

Step definition (documented in docs/model.md): `step` counts completed training iterations.
Iteration s trains on `WindowSampler.batch(s, batch)` after seeding torch from (seed, s, rank),
and makes exactly one optimizer step:
  * s < warmup (phase "vae"): the generator (encoder + decoder) on distance + beta(s) * KL;
  * s >= warmup (phase "gan"): encoder frozen (eval, no grad), noise branch on; odd s train the
    discriminator, even s the decoder on distance + adversarial + feature matching (as upstream).
So the phase switches at exactly s == warmup and depends on nothing but the step, which is why a
resumed run cannot fall back to the VAE phase (upstream's flaw).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from ravejobs.config import KLSpec, ModelSpec
from ravejobs.model.decoder import Decoder
from ravejobs.model.discriminator import MultiScaleDiscriminator
from ravejobs.model.encoder import Encoder, reparametrize
from ravejobs.model.fidelity import Fidelity
from ravejobs.model.losses import (
    Loudness,
    SpectralDistance,
    adversarial,
    feature_matching,
)
from ravejobs.model.phases import PhaseSchedule, beta_at
from ravejobs.model.pqmf import PQMF
from ravejobs.seeds import step_seed

BETAS = (0.5, 0.9)


class RAVE(nn.Module):
    """The model, its losses and one training iteration; the run loop lives in `session`."""

    def __init__(self, model: ModelSpec, warmup: int, kl: KLSpec, seed: int = 0):
        super().__init__()
        self.cfg, self.kl, self.seed = model, kl, seed
        self.phases = PhaseSchedule(warmup)
        causal = model.no_latency
        self.pqmf = (PQMF(model.data_size, 70.0 if causal else 100.0, causal)
                     if model.data_size > 1 else None)
        # With cropped_latent_size the encoder only produces that many dimensions; the decoder
        # still takes latent_size inputs and the rest is filled with unit Gaussian noise.
        self.kept = model.cropped_latent_size or model.latent_size
        self.encoder = Encoder(model.data_size, model.capacity, self.kept, model.ratios,
                               model.bias, causal)
        self.decoder = Decoder(model.data_size, model.capacity, model.latent_size, model.ratios,
                               model.loud_stride, model.use_noise, model.noise_ratios,
                               model.noise_bands, model.bias, causal)
        self.discriminator = MultiScaleDiscriminator(model.d_capacity, model.d_multiplier,
                                                     model.d_n_layers)
        self.spectral = SpectralDistance()
        self.loudness = Loudness(model.sr)
        self.fidelity = Fidelity(self.kept)
        self.step = 0
        self.logs: dict[str, torch.Tensor | float] = {}  # latest values, read when logging
        self.val_extras: dict[str, float] = {}  # extra validation metrics (ours, not upstream)
        self.diverged = ""  # "step S: METRIC is nan" once a step would have spoilt the weights
        self.rank = 0

    # ------------------------------------------------------------------ export-friendly parts
    def analyse(self, x: torch.Tensor) -> torch.Tensor:
        return self.pqmf(x) if self.pqmf is not None else x

    def synthesise(self, bands: torch.Tensor) -> torch.Tensor:
        return self.pqmf.inverse(bands) if self.pqmf is not None else bands

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Audio (B,1,T) -> latent means (B, kept, T / hop)."""
        return self.encoder(self.analyse(x))[0]

    def fill_latent(self, z: torch.Tensor) -> torch.Tensor:
        """Pad a cropped latent with unit noise up to the decoder's latent_size."""
        missing = self.cfg.latent_size - z.shape[1]
        if missing <= 0:
            return z
        noise = torch.randn(z.shape[0], missing, z.shape[2], device=z.device, dtype=z.dtype)
        return torch.cat([z, noise], 1)

    def decode(self, z: torch.Tensor, add_noise: bool = True) -> torch.Tensor:
        """Latent (B, kept or latent_size, frames) -> audio (B,1,T)."""
        return self.synthesise(self.decoder(self.fill_latent(z), add_noise=add_noise))

    # ------------------------------------------------------------------ losses
    def distance(self, xb: torch.Tensor, yb: torch.Tensor, x: torch.Tensor,
                 y: torch.Tensor) -> torch.Tensor:
        d = self.spectral(x, y)
        if self.pqmf is not None:
            d = d + self.spectral(xb, yb)
        return d + (self.loudness(x) - self.loudness(y)).pow(2).mean()

    def freeze_encoder(self) -> None:
        self.encoder.eval()
        self.encoder.requires_grad_(False)

    def step_loss(self, audio: torch.Tensor, step: int) -> tuple[str, torch.Tensor]:
        """Loss of iteration `step` and which optimizer it is for ("gen" or "dis")."""
        x = audio.unsqueeze(1) if audio.dim() == 2 else audio
        gan = self.phases.adversarial(step)
        xb = self.analyse(x)
        x = self.synthesise(xb)  # the full-band target goes through the same filter bank
        if gan:
            self.freeze_encoder()
        if self.phases.trains_discriminator(step):
            with torch.no_grad():
                mean, scale = self.encoder(xb)
                z, _ = reparametrize(mean, scale)
                y = self.synthesise(self.decoder(self.fill_latent(z), add_noise=True))
            loss_dis = x.new_zeros(())
            for real, fake in zip(self.discriminator(x), self.discriminator(y), strict=True):
                loss_dis = loss_dis + adversarial(real[-1], fake[-1], self.cfg.mode)[0]
            self.logs["loss_dis"] = loss_dis.detach()
            return "dis", loss_dis
        with torch.set_grad_enabled(not gan):
            mean, scale = self.encoder(xb)
            z, kl = reparametrize(mean, scale)
        if gan:
            z, kl = z.detach(), kl.detach()
        yb = self.decoder(self.fill_latent(z), add_noise=gan)
        y = self.synthesise(yb)
        distance = self.distance(xb, yb, x, y)
        beta = beta_at(self.kl, step)
        loss = distance + beta * kl
        if gan:
            with torch.no_grad():
                real = self.discriminator(x)
            fake = self.discriminator(y)
            adv = x.new_zeros(())
            for r, f in zip(real, fake, strict=True):
                adv = adv + adversarial(r[-1], f[-1], self.cfg.mode)[1]
            fm = feature_matching(real, fake)
            loss = loss + adv + (fm if self.cfg.feature_match else 0)
            self.logs["feature_matching"] = fm.detach()
        # Tensors, not floats: converting here would wait for the GPU at every step.
        self.logs.update(distance=distance.detach(), beta=beta, kl=kl.detach(),
                         loss_gen=loss.detach())
        return "gen", loss

    # ------------------------------------------------------------------ training
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def make_optimizers(self) -> list[torch.optim.Optimizer]:
        gen = list(self.encoder.parameters()) + list(self.decoder.parameters())
        # fused: one kernel for all parameters; on CPU 14 ms instead of 60 ms per rave_v1 step.
        return [torch.optim.Adam(gen, lr=self.cfg.lr, betas=BETAS, fused=True),
                torch.optim.Adam(self.discriminator.parameters(), lr=self.cfg.lr, betas=BETAS,
                                 fused=True)]

    def train_step(self, batch: tuple[Any, torch.Tensor], optimizers: Sequence[Any],
                   backward: Callable[[torch.Tensor], None] = torch.Tensor.backward) -> None:
        """One iteration on (step, audio) with the (generator, discriminator) optimizers of
        `make_optimizers`; `backward` is the trainer's (Lightning's `manual_backward`)."""
        step, audio = batch
        if int(step) != self.step:
            raise RuntimeError(f"data for step {int(step)} arrived at step {self.step}")
        if self.diverged:  # the session rolls back; until then nothing may touch the weights
            return
        torch.manual_seed(step_seed(self.seed, self.step, self.rank))
        opt_gen, opt_dis = optimizers
        kind, loss = self.step_loss(audio, self.step)
        self.diverged = guarded_update(self, opt_gen if kind == "gen" else opt_dis, loss, backward)

    @torch.no_grad()
    def validation_distances(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                                  torch.Tensor]:
        """One validation batch: (upstream's full-band distance, our bands + full band +
        loudness distance, latent means). As upstream's `validation_step`: z is *sampled*
        from the posterior, noise is on only in the adversarial phase."""
        x = audio.to(self.device)
        x = x.unsqueeze(1) if x.dim() == 2 else x
        xb = self.analyse(x)
        mean, scale = self.encoder(xb)
        z, _ = reparametrize(mean, scale)
        yb = self.decoder(self.fill_latent(z), add_noise=self.phases.encoder_frozen(self.step))
        xf, yf = self.synthesise(xb), self.synthesise(yb)
        full = self.spectral(xf, yf)
        total = self.distance(xb, yb, xf, yf) if self.pqmf is not None else full
        return full, total, mean

    @torch.no_grad()
    def validate(self, batches: Iterable[torch.Tensor]) -> tuple[float, torch.Tensor]:
        """Upstream's `validation` (full-band distance of sampled z, mean over all windows of
        the batches given) and the latent means. Our former metric (bands + full band +
        loudness) is left in `self.val_extras["validation_multiband"]`."""
        was_training = self.training
        self.eval()
        torch.manual_seed(step_seed(self.seed, self.step, 1 << 20))
        full_sum = total_sum = 0.0
        windows, means = 0, []
        for audio in batches:
            full, total, mean = self.validation_distances(audio)
            full_sum += float(full) * len(audio)
            total_sum += float(total) * len(audio)
            windows += len(audio)
            means.append(mean.float().cpu())
        self.train(was_training)
        if self.phases.encoder_frozen(self.step):
            self.freeze_encoder()
        if not windows:
            return float("nan"), torch.zeros(0, self.kept, 0)
        self.val_extras = {"validation_multiband": total_sum / windows}
        return full_sum / windows, torch.cat(means)


def guarded_update(module: Any, opt: torch.optim.Optimizer, loss: torch.Tensor,
                   backward: Callable[[torch.Tensor], None] = torch.Tensor.backward) -> str:
    """Backward, then step the optimizer and the module's step count, unless the loss or a
    gradient is not finite: then nothing reaches the weights and the divergence line returns."""
    opt.zero_grad(set_to_none=True)
    backward(loss)
    line = divergence(module.step, loss, module.logs, opt)
    if line:
        opt.zero_grad(set_to_none=True)
        return line
    opt.step()
    module.step += 1
    return ""


def divergence(step: int, loss: torch.Tensor, logs: dict[str, Any],
               opt: torch.optim.Optimizer) -> str:
    """'' when the loss and every gradient are finite, else one line naming step and metric.

    One reduction and one host sync per step: the sum of the gradients' norms is finite exactly
    when every gradient entry is.
    """
    grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
    norm = torch.stack(torch._foreach_norm(grads)).sum() if grads else loss.new_zeros(())
    if bool(torch.isfinite(loss + norm)):
        return ""
    for key in ("distance", "kl", "feature_matching", "loss_dis", "loss_gen"):
        value = logs.get(key)
        if isinstance(value, torch.Tensor) and not bool(torch.isfinite(value)):
            return f"step {step}: {key} is {float(value)}"
    if not bool(torch.isfinite(loss)):
        return f"step {step}: loss is {float(loss.detach())}"
    return f"step {step}: gradient norm is {float(norm)} (loss {float(loss.detach()):.4g})"


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
