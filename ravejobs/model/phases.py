"""Which training phase a step belongs to: the only code that knows (issue 13).

Two ways of counting meet here, and each method says which it takes:
  * an *iteration* s (0-based) is the s-th optimizer step; it trains in phase "vae" when
    s < warmup, else "gan" (encoder frozen, noise on; odd iterations train the discriminator);
  * a *step count* n is how many iterations are done (`RAVE.step`, checkpoints, metrics); the
    weights after n iterations come from the phase of iteration n - 1.
So the phase switches exactly at n == warmup, and depends on nothing but the step.
"""

from __future__ import annotations

from dataclasses import dataclass

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
