"""RAVE v1 as a LightningModule with manual optimisation and an explicit step counter.

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

from typing import Any

import numpy as np
import pytorch_lightning as pl
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
from ravejobs.model.phases import PhaseSchedule
from ravejobs.model.pqmf import PQMF
from ravejobs.seeds import step_seed

BETAS = (0.5, 0.9)


class RAVE(pl.LightningModule):
    """The model, its losses and one training iteration; the run loop lives in `session`."""

    def __init__(self, model: ModelSpec, warmup: int, kl: KLSpec, seed: int = 0):
        super().__init__()
        self.automatic_optimization = False
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
        beta = self.kl.beta_at(step)
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

    # ------------------------------------------------------------------ Lightning
    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        gen = list(self.encoder.parameters()) + list(self.decoder.parameters())
        # fused: one kernel for all parameters; on CPU 14 ms instead of 60 ms per rave_v1 step.
        return [torch.optim.Adam(gen, lr=self.cfg.lr, betas=BETAS, fused=True),
                torch.optim.Adam(self.discriminator.parameters(), lr=self.cfg.lr, betas=BETAS,
                                 fused=True)]

    def training_step(self, batch: Any, batch_idx: int) -> None:
        step, audio = batch
        if int(step) != self.step:
            raise RuntimeError(f"data for step {int(step)} arrived at step {self.step}")
        torch.manual_seed(step_seed(self.seed, self.step, self.rank))
        opt_gen, opt_dis = self.optimizers()
        kind, loss = self.step_loss(audio, self.step)
        opt = opt_gen if kind == "gen" else opt_dis
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        opt.step()
        self.step += 1

    @torch.no_grad()
    def validate(self, batches: list[torch.Tensor]) -> tuple[float, torch.Tensor]:
        """Mean distance on held-out windows (latent means, no sampling) and the means."""
        was_training = self.training
        self.eval()
        torch.manual_seed(step_seed(self.seed, self.step, 1 << 20))
        distances, means = [], []
        for audio in batches:
            x = audio.to(self.device).unsqueeze(1)
            xb = self.analyse(x)
            mean = self.encoder(xb)[0]
            yb = self.decoder(self.fill_latent(mean),
                              add_noise=self.phases.encoder_frozen(self.step))
            distances.append(float(self.distance(xb, yb, self.synthesise(xb),
                                                 self.synthesise(yb))))
            means.append(mean.float().cpu())
        self.train(was_training)
        if self.phases.encoder_frozen(self.step):
            self.freeze_encoder()
        return float(np.mean(distances)) if distances else float("nan"), torch.cat(means)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
