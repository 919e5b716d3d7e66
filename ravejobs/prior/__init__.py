"""The latent prior (upstream RAVE v1): model, latent store, training loop; see docs/prior.md."""

from ravejobs.prior.latents import LatentStore, LatentWindows, ModelRef, ensure_store
from ravejobs.prior.model import Prior, load_prior, sample, save_prior
from ravejobs.prior.train import PriorTrainer

__all__ = ["LatentStore", "LatentWindows", "ModelRef", "Prior", "PriorTrainer", "ensure_store",
           "load_prior", "sample", "save_prior"]
