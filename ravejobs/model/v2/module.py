"""RAVE v2 (acids-rave 2.3.1's v2.gin family) as a plain torch module with RAVE v1's interface.

The session, checkpoints, export and prior use it exactly as `ravejobs.model.module.RAVE`
(same attributes and methods; `ravejobs.model.v2.build_model` picks the class from
`model.arch`). Iteration s, after seeding torch from (seed, s, rank):
  * s < warmup: the generator (encoder + decoder) on multiband + fullband spectral distance
    + beta * regulariser (Gaussian KL, or MMD for `regularizer: wasserstein`);
  * s >= warmup: encoder frozen; iterations with s % dis_every == 0 train the discriminator
    (hinge), the others the decoder on distance + fm_weight * feature matching
    + adv_weight * hinge generator loss.
The generator learning rate falls linearly from lr to lr * lr_end_factor over the warmup and
stays there (upstream's LinearLR); it is set from the step at every iteration, so a resumed
run needs no scheduler state. beta is `phases.beta_at(kl, s + 1)`: upstream's BetaWarmupCallback
counts the current step before computing it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ravejobs.config import KLSpec, ModelSpec
from ravejobs.model.fidelity import Fidelity
from ravejobs.model.module import guarded_update
from ravejobs.model.phases import PhaseSchedule, beta_at
from ravejobs.model.v2 import receptive
from ravejobs.model.v2.discriminator import CombinedDiscriminator
from ravejobs.model.v2.layers import EncoderV2, GeneratorV2
from ravejobs.model.v2.losses import (
    SpectralDistanceV2,
    feature_matching,
    gaussian_kl,
    hinge,
    mmd_to_normal,
)
from ravejobs.model.v2.pqmf import PQMFv2
from ravejobs.seeds import step_seed

BETAS = (0.5, 0.9)
SKIPPED_FEATURES = 1  # v2.gin num_skipped_features


@dataclass(frozen=True)
class PhasesV2(PhaseSchedule):
    """The project's phase schedule with v2's discriminator cadence (`dis_every`)."""

    dis_every: int = 2

    def trains_discriminator(self, s: int) -> bool:
        return self.adversarial(s) and s % self.dis_every == 0


class RAVEv2(nn.Module):
    def __init__(self, model: ModelSpec, warmup: int, kl: KLSpec, seed: int = 0):
        super().__init__()
        self.cfg, self.warmup, self.kl, self.seed = model, warmup, kl, seed
        self.phases = PhasesV2(warmup, model.dis_every)
        self.diverged = ""  # "step S: METRIC is nan" once a step would have spoilt the weights
        self.val_extras: dict[str, float] = {}  # validation keys besides `validation`
        causal = model.no_latency
        # v2 keeps 100 dB in causal mode too (causal.gin only changes the padding).
        self.pqmf = PQMFv2(model.data_size, 100.0, causal) if model.data_size > 1 else None
        self.wasserstein = model.regularizer == "wasserstein"
        self.kept = model.latent_size
        self.encoder = EncoderV2(model.data_size, model.capacity, model.ratios,
                                 model.latent_size, 1 if self.wasserstein else 2,
                                 model.kernel_size, model.dilations, causal)
        self.decoder = GeneratorV2(model.data_size, model.capacity, model.ratios,
                                   model.latent_size + model.noise_augmentation,
                                   model.kernel_size, model.dilations,
                                   model.amplitude_modulation,
                                   model.noise_hidden if model.use_noise else 0,
                                   model.noise_ratios, model.noise_bands, causal)
        self.discriminator = CombinedDiscriminator(model.d_capacity, model.d_multiplier,
                                                   model.d_n_layers, model.d_periods,
                                                   model.d_scales)
        self.spectral = SpectralDistanceV2()
        self.fidelity = Fidelity(self.kept)
        # Receptive field (left, right) in samples, measured once for `valid_crop`.
        self.register_buffer("receptive_field", torch.zeros(2, dtype=torch.long))
        self.step = 0
        self.logs: dict[str, torch.Tensor | float] = {}
        self.rank = 0

    # ------------------------------------------------------------------ export-friendly parts
    def analyse(self, x: torch.Tensor) -> torch.Tensor:
        return self.pqmf(x) if self.pqmf is not None else x

    def synthesise(self, bands: torch.Tensor) -> torch.Tensor:
        return self.pqmf.inverse(bands) if self.pqmf is not None else bands

    def latent_params(self, bands: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(mean, scale) of the Gaussian posterior; scale is None for the Wasserstein encoder."""
        h = self.encoder(bands)
        if self.wasserstein:
            return h, None
        mean, scale = h.chunk(2, 1)
        return mean, scale

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Audio (B,1,T) -> latent means (B, latent_size, T / hop)."""
        return self.latent_params(self.analyse(x))[0]

    def regularise(self, mean: torch.Tensor,
                   scale: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(sampled or passed latent, regulariser) with upstream's random draws, in order."""
        if scale is None:
            return mean, mmd_to_normal(mean)
        return gaussian_kl(mean, scale)

    def fill_latent(self, z: torch.Tensor) -> torch.Tensor:
        """Append `noise_augmentation` unit-noise channels (upstream's noise augmentation)."""
        extra = self.cfg.noise_augmentation
        if not extra:
            return z
        noise = torch.randn(z.shape[0], extra, z.shape[2], device=z.device, dtype=z.dtype)
        return torch.cat([z, noise], 1)

    def decode(self, z: torch.Tensor, add_noise: bool = True) -> torch.Tensor:
        """Latent (B, latent_size, frames) -> audio (B,1,T). v2's noise is always on."""
        return self.synthesise(self.decoder(self.fill_latent(z)))

    # ------------------------------------------------------------------ schedule
    def lr_at(self, step: int) -> float:
        t = min(step, self.warmup) / self.warmup if self.warmup else 1.0
        return self.cfg.lr * (1 + (self.cfg.lr_end_factor - 1) * t)

    def beta_at(self, step: int) -> float:
        return beta_at(self.kl, step + 1)

    def freeze_encoder(self) -> None:
        self.encoder.eval()
        self.encoder.requires_grad_(False)

    # ------------------------------------------------------------------ losses
    def crop(self, bands: torch.Tensor) -> torch.Tensor:
        """Drop the band samples whose receptive field reaches past the window (valid_crop)."""
        left, right = (int(v) for v in self.receptive_field)
        if not self.cfg.valid_crop or not (left or right):
            return bands
        m = bands.shape[1]
        bands = bands[..., left // m:]
        return bands[..., :(-right) // m] if right else bands  # upstream: ceil on the right

    def step_loss(self, audio: torch.Tensor, step: int) -> tuple[str, torch.Tensor]:
        """Loss of iteration `step` and which optimizer it is for ("gen" or "dis")."""
        x = audio.unsqueeze(1) if audio.dim() == 2 else audio
        gan = self.phases.adversarial(step)
        dis_step = self.phases.trains_discriminator(step)
        if gan:
            self.freeze_encoder()
        xb = self.analyse(x)
        with torch.set_grad_enabled(not gan):
            mean, scale = self.latent_params(xb)
        z, reg = self.regularise(mean, scale)
        if gan:
            z, reg = z.detach(), reg.detach()
        with torch.set_grad_enabled(not dis_step):
            yb = self.decoder(self.fill_latent(z))
            y = self.synthesise(yb)[..., :x.shape[-1]]
        if dis_step:
            loss_dis = x.new_zeros(())
            for real, fake in zip(self.discriminator(x), self.discriminator(y), strict=True):
                loss_dis = loss_dis + hinge(real[-1], fake[-1])[0]
            self.logs["loss_dis"] = loss_dis.detach()
            return "dis", loss_dis
        yb = yb[..., :xb.shape[-1]]
        distance = self.cfg.distance_weight * (self.spectral(self.crop(xb), self.crop(yb))
                                               + self.spectral(x, y))
        beta = self.beta_at(step)
        loss = distance + beta * reg
        if gan:
            with torch.no_grad():
                real = self.discriminator(x)
            fake = self.discriminator(y)
            adv = sum(hinge(r[-1], f[-1])[1] for r, f in zip(real, fake, strict=True))
            fm = feature_matching(real, fake, SKIPPED_FEATURES)
            loss = loss + self.cfg.adv_weight * adv
            if self.cfg.feature_match:
                loss = loss + self.cfg.fm_weight * fm
            self.logs["feature_matching"] = fm.detach()
        self.logs.update(distance=distance.detach(), beta=beta, kl=reg.detach(),
                         loss_gen=loss.detach())
        return "gen", loss

    # ------------------------------------------------------------------ Lightning
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def make_optimizers(self) -> list[torch.optim.Optimizer]:
        gen = list(self.encoder.parameters()) + list(self.decoder.parameters())
        return [torch.optim.Adam(gen, lr=self.cfg.lr, betas=BETAS, fused=True),
                torch.optim.Adam(self.discriminator.parameters(), lr=self.cfg.lr_dis,
                                 betas=BETAS, fused=True)]

    def measure_receptive_field(self) -> None:
        """Measure once (before the first step, like upstream's sanity check) if asked."""
        if self.cfg.valid_crop and not int(self.receptive_field.sum()):
            self.receptive_field.copy_(torch.tensor(receptive.measure(self)))

    def train_step(self, batch: tuple[Any, torch.Tensor], optimizers: Sequence[Any],
                   backward: Callable[[torch.Tensor], None] = torch.Tensor.backward) -> None:
        """As `RAVE.train_step`; the generator's learning rate is set from the step first."""
        step, audio = batch
        if int(step) != self.step:
            raise RuntimeError(f"data for step {int(step)} arrived at step {self.step}")
        if self.diverged:  # the session rolls back; until then nothing may touch the weights
            return
        self.measure_receptive_field()
        torch.manual_seed(step_seed(self.seed, self.step, self.rank))
        opt_gen, opt_dis = optimizers
        for group in opt_gen.param_groups:
            group["lr"] = self.lr_at(self.step)
        kind, loss = self.step_loss(audio, self.step)
        self.diverged = guarded_update(self, opt_gen if kind == "gen" else opt_dis, loss,
                                       backward)

    @torch.no_grad()
    def validate(self, batches: list[torch.Tensor]) -> tuple[float, torch.Tensor]:
        """Mean full-band distance on held-out windows (sampled latents, as upstream) and the
        latent means."""
        was_training = self.training
        self.eval()
        torch.manual_seed(step_seed(self.seed, self.step, 1 << 20))
        distances, means = [], []
        for audio in batches:
            x = audio.to(self.device).unsqueeze(1)
            mean, scale = self.latent_params(self.analyse(x))
            z = self.regularise(mean, scale)[0]
            y = self.decode(z)[..., :x.shape[-1]]
            distances.append(float(self.spectral(x, y)))
            means.append(mean.float().cpu())
        self.train(was_training)
        if self.phases.encoder_frozen(self.step):
            self.freeze_encoder()
        return float(np.mean(distances)) if distances else float("nan"), torch.cat(means)
