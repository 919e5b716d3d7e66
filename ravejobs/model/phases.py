"""Which training phase a step belongs to: the only code that knows (issue 13).

Two ways of counting meet here, and each method says which it takes:
  * an *iteration* s (0-based) is the s-th optimizer step; it trains in phase "vae" when
    s < warmup, else "gan" (encoder frozen, noise on; odd iterations train the discriminator);
  * a *step count* n is how many iterations are done (`RAVE.step`, checkpoints, metrics); the
    weights after n iterations come from the phase of iteration n - 1.
So the phase switches exactly at n == warmup, and depends on nothing but the step.
The KL weight of a step (`beta_at`) is a schedule over steps too, so it lives here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ravejobs.config import KLSpec

VAE, GAN = "vae", "gan"


@dataclass(frozen=True)
class PhaseSchedule:
    warmup: int  # iterations of the VAE phase (phase.warmup)

    # ---------------------------------------------------------------- iterations (0-based)
    def of_iteration(self, s: int) -> str:
        return GAN if s >= self.warmup else VAE

    def adversarial(self, s: int) -> bool:
        """Iteration s trains adversarially (encoder frozen, noise branch on)."""
        return s >= self.warmup

    def trains_discriminator(self, s: int) -> bool:
        return self.adversarial(s) and s % 2 == 1

    # ---------------------------------------------------------------- step counts (done)
    def after(self, done: int) -> str:
        """Phase the weights come from after `done` iterations ("vae" before any)."""
        return self.of_iteration(done - 1) if done > 0 else VAE

    def next(self, done: int) -> str:
        """Phase of the next iteration, with `done` iterations behind."""
        return self.of_iteration(done)

    def vae_ends(self, done: int) -> bool:
        """`done` iterations complete the VAE phase: the phase-boundary checkpoint and
        validation are due."""
        return done == self.warmup

    def encoder_frozen(self, done: int) -> bool:
        """With `done` iterations behind, the encoder no longer trains (all later ones are GAN)."""
        return self.adversarial(done)

    def fits_fidelity(self, done: int) -> bool:
        """The latent PCA (fidelity) is refitted only while the encoder still trains."""
        return done <= self.warmup


def beta_at(kl: KLSpec, step: int) -> float:
    """KL weight at a global step: constant (`fixed`), or a log-linear ramp from beta_min to
    beta_max over kl.steps, then constant (`warmup`)."""
    if kl.mode == "fixed":
        return kl.beta
    if kl.steps <= 0 or step >= kl.steps:
        return kl.beta_max
    t = step / kl.steps
    return math.exp(math.log(kl.beta_min) * (1 - t) + math.log(kl.beta_max) * t)
