"""The latent store: the corpus encoded once by the trained encoder, read by the prior.

Upstream re-encodes audio with the frozen model at every prior step, *sampling* z from the
posterior N(mean, std) of every frame, then PCA-projecting and cropping it. The encoder is
frozen, so its posterior per frame never changes: the store keeps the posterior's mean and std
(encoder space) and the model's projection, and `LatentWindows` samples z = mean + std * eps
and projects it at every step, which gives z the distribution upstream's re-encoding gives it
(tests/test_prior_latents.py), at a fraction of the cost. The store records which
checkpoint made it, so a prior never trains on another model's latents.

    <folder>/z.npy       float32 [frames, K] posterior means, segments end to end (memory-mapped)
    <folder>/scale.npy   float32 [frames, K] posterior std (absent: z holds final latents)
    <folder>/pca.npz     `mean` [K] and `components` [k, K]: z -> kept PCA coordinates
    <folder>/meta.json   model checkpoint (path, step, signature), segments, sr, hop, corpus
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from ravejobs.atomic import atomic_write_bytes, atomic_write_json

FORMAT = 2  # 2: posterior mean + std and the projection; 1: projected means


class Encoder(Protocol):
    """What the store needs from a trained model (ravejobs.model.TrainedRAVE has it)."""

    hop: int
    sr: int
    latent_size: int

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...


class PosteriorEncoder(Encoder, Protocol):
    """An encoder that also gives its posterior and projection (TrainedRAVE does)."""

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def projection(self) -> tuple[torch.Tensor, torch.Tensor]: ...


@dataclass(frozen=True)
class ModelRef:
    """Which model made a latent store: enough to tell a stale store from a current one."""

    checkpoint: str
    step: int
    signature: str

    def same_model(self, other: ModelRef) -> bool:
        """Same run and step: the same weights, even if the storage root moved since."""
        return (self.signature, self.step) == (other.signature, other.step)


@dataclass(frozen=True)
class LatentMeta:
    model: ModelRef
    sr: int
    hop: int
    latent_size: int                    # dimensions the prior models (after projection)
    frames: int
    segments: list[tuple[int, int]]     # (start frame, length) per source file
    corpus: str = ""                    # corpus fingerprint, when the source has one
    format: int = FORMAT
    encoder_size: int = 0               # K of z.npy when it holds posterior means, else 0

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LatentMeta:
        return cls(model=ModelRef(**d["model"]), sr=d["sr"], hop=d["hop"],
                   latent_size=d["latent_size"], frames=d["frames"],
                   segments=[tuple(s) for s in d["segments"]], corpus=d.get("corpus", ""),
                   format=d.get("format", 0), encoder_size=d.get("encoder_size", 0))


class LatentStore:
    """A written store, opened read-only; `z` is a memory map [frames, k]."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        meta_file = self.folder / "meta.json"
        if not meta_file.exists():
            raise FileNotFoundError(f"{self.folder}: no latent store here (meta.json missing)")
        self.meta = LatentMeta.from_json(json.loads(meta_file.read_text()))
        self.z = np.load(self.folder / "z.npy", mmap_mode="r")
        width = self.meta.encoder_size or self.meta.latent_size
        if self.z.shape != (self.meta.frames, width):
            raise ValueError(f"{self.folder / 'z.npy'}: shape {self.z.shape} does not match "
                             f"meta.json ({self.meta.frames}, {width})")
        self.posterior: Posterior | None = None
        if self.meta.encoder_size:
            pca = np.load(self.folder / "pca.npz")
            self.posterior = Posterior(np.load(self.folder / "scale.npy", mmap_mode="r"),
                                       pca["mean"], pca["components"])

    @property
    def latent_size(self) -> int:
        return self.meta.latent_size

    @staticmethod
    def exists(folder: str | Path) -> bool:
        return (Path(folder) / "meta.json").exists()


@dataclass(frozen=True)
class Posterior:
    """Per-frame posterior std and the projection to the prior's coordinates."""

    scale: np.ndarray          # [frames, K]
    mean: np.ndarray           # [K]
    components: np.ndarray     # [k, K]

    def sample(self, means: np.ndarray, scales: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """[B, T, K] posterior means and stds -> sampled, projected latents [B, T, k]."""
        z = means + scales * rng.standard_normal(means.shape, dtype=np.float32)
        return (z - self.mean) @ self.components.T


def encode_sources(encoder: Encoder, sources: Iterable[np.ndarray], chunk: int = 2 ** 16,
                   batch: int = 8, log: Callable[[str], None] = print,
                   device: str | torch.device = "cpu"
                   ) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Encode 1-D float arrays (one per file) in chunks; return z [frames, k] and segments.

    Chunks are a whole number of hops, so frame n of a file comes from samples n*hop.. onward;
    a tail shorter than one hop is dropped.
    """
    arrays, segments = _encode(lambda x: [encoder.encode(x)], encoder.hop, sources, chunk,
                               batch, log, device)
    return arrays[0], segments


def encode_posterior(encoder: PosteriorEncoder, sources: Iterable[np.ndarray],
                     chunk: int = 2 ** 16, batch: int = 8, log: Callable[[str], None] = print,
                     device: str | torch.device = "cpu"
                     ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """As `encode_sources`, but the posterior mean and std [frames, K] in encoder space."""
    arrays, segments = _encode(lambda x: list(encoder.posterior(x)), encoder.hop, sources,
                               chunk, batch, log, device)
    return arrays[0], arrays[1], segments


def _encode(fn: Callable[[torch.Tensor], list[torch.Tensor]], hop: int,
            sources: Iterable[np.ndarray], chunk: int, batch: int,
            log: Callable[[str], None], device: str | torch.device
            ) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    chunk = max(hop, chunk // hop * hop)
    parts: list[list[np.ndarray]] = []
    segments: list[tuple[int, int]] = []
    start = 0
    with torch.inference_mode():
        for audio in sources:
            audio = np.asarray(audio, dtype=np.float32).reshape(-1)
            usable = len(audio) // hop * hop
            if usable == 0:
                continue
            pieces: list[list[np.ndarray]] = []
            for i in range(0, usable, chunk * batch):
                block = audio[i:min(usable, i + chunk * batch)]
                n = -(-len(block) // chunk)
                padded = np.zeros(n * chunk, dtype=np.float32)
                padded[:len(block)] = block
                x = torch.from_numpy(padded).reshape(n, 1, chunk).to(device)
                outs = []
                for z in fn(x):                                         # n k f each
                    if z.shape[-1] != chunk // hop:
                        raise ValueError(f"encoder gave {z.shape[-1]} frames for {chunk} "
                                         f"samples; expected {chunk // hop} (hop {hop})")
                    frames = z.permute(0, 2, 1).reshape(-1, z.shape[1])[:len(block) // hop]
                    outs.append(frames.float().cpu().numpy())
                pieces.append(outs)
            seg = [np.concatenate(p) for p in zip(*pieces, strict=True)]
            parts.append(seg)
            segments.append((start, len(seg[0])))
            start += len(seg[0])
    if not parts:
        raise ValueError("no audio to encode: every source is shorter than one hop "
                         f"({hop} samples)")
    log(f"encoded {len(segments)} segment(s) into {start} frames of {parts[0][0].shape[1]} dims")
    return ([np.concatenate(p).astype(np.float32) for p in zip(*parts, strict=True)],
            segments)


def _save_npy(path: Path, a: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a, dtype=np.float32))
    atomic_write_bytes(path, buf.getvalue())


def write_store(folder: str | Path, z: np.ndarray, meta: LatentMeta,
                posterior: Posterior | None = None) -> LatentStore:
    """Write the arrays then meta.json, each atomically: a store with meta.json is complete."""
    folder = Path(folder)
    (folder / "meta.json").unlink(missing_ok=True)   # a half-replaced store must not look whole
    _save_npy(folder / "z.npy", z)
    if posterior is not None:
        _save_npy(folder / "scale.npy", posterior.scale)
        buf = io.BytesIO()
        np.savez(buf, mean=posterior.mean.astype(np.float32),
                 components=posterior.components.astype(np.float32))
        atomic_write_bytes(folder / "pca.npz", buf.getvalue())
    d = asdict(meta)
    d["segments"] = [list(s) for s in meta.segments]
    atomic_write_json(folder / "meta.json", d)
    return LatentStore(folder)


def packed_sources(store: Any) -> Iterator[np.ndarray]:
    """One 1-D float array per entry of a `ravejobs.data.store.PackedStore`, read lazily."""
    for i in range(len(store.files)):
        yield store.signal(i)


def ensure_store(folder: str | Path, encoder: Encoder, model: ModelRef,
                 sources: Callable[[], Iterable[np.ndarray]], corpus: str = "",
                 chunk: int = 2 ** 16, batch: int = 8, log: Callable[[str], None] = print,
                 device: str | torch.device = "cpu") -> LatentStore:
    """Open the store if the same checkpoint made it from the same corpus, else (re)encode."""
    folder = Path(folder)
    if LatentStore.exists(folder):
        try:
            store = LatentStore(folder)
        except (ValueError, OSError) as err:
            log(f"latent store {folder} unreadable ({err}); encoding again")
        else:
            if (store.meta.model.same_model(model) and store.meta.corpus == corpus
                    and store.meta.format == FORMAT):
                log(f"latent store {folder}: reusing ({store.meta.frames} frames from "
                    f"{model.checkpoint} step {model.step})")
                return store
            log(f"latent store {folder} was made by {store.meta.model} from corpus "
                f"{store.meta.corpus!r}; encoding again with {model}")
    if hasattr(encoder, "posterior"):  # sample at every step, as upstream's re-encoding
        z, scale, segments = encode_posterior(encoder, sources(), chunk=chunk, batch=batch,
                                              log=log, device=device)
        mean, components = (t.detach().float().cpu().numpy() for t in encoder.projection())
        meta = LatentMeta(model=model, sr=encoder.sr, hop=encoder.hop,
                          latent_size=components.shape[0], frames=len(z), segments=segments,
                          corpus=corpus, encoder_size=z.shape[1])
        return write_store(folder, z, meta, Posterior(scale, mean, components))
    z, segments = encode_sources(encoder, sources(), chunk=chunk, batch=batch, log=log,
                                 device=device)
    meta = LatentMeta(model=model, sr=encoder.sr, hop=encoder.hop, latent_size=z.shape[1],
                      frames=len(z), segments=segments, corpus=corpus)
    return write_store(folder, z, meta)


class LatentWindows:
    """Windows of `n_frames` latent frames, deterministic in (seed, step).

    Windows stay inside one segment (file). The last `val_fraction` of the frames (at least
    one window) is held out for validation.
    """

    def __init__(self, z: np.ndarray, segments: Sequence[tuple[int, int]], n_frames: int,
                 split: str = "train", val_fraction: float = 0.02, seed: int = 0,
                 posterior: Posterior | None = None):
        if split not in ("train", "val"):
            raise ValueError(f"split={split!r}: must be 'train' or 'val'")
        self.z, self.n_frames, self.seed, self.split = z, n_frames, seed, split
        self.posterior = posterior
        total = sum(length for _, length in segments)
        n_val = min(total, max(n_frames, int(np.ceil(total * val_fraction))))
        lo, hi = (0, total - n_val) if split == "train" else (total - n_val, total)
        starts, counts = [], []
        for s, length in segments:
            a, b = max(s, lo), min(s + length, hi)
            if b - a >= n_frames:
                starts.append(a)
                counts.append(b - a - n_frames + 1)
        if not counts:
            raise ValueError(
                f"no {split} window of prior.n_frames={n_frames} frames fits in the latent store "
                f"({total} frames in {len(segments)} segment(s)); lower prior.n_frames or "
                "use a longer corpus")
        self._starts = np.asarray(starts, dtype=np.int64)
        self._cum = np.cumsum(counts)

    @classmethod
    def from_store(cls, store: LatentStore, n_frames: int, split: str = "train",
                   val_fraction: float = 0.02, seed: int = 0) -> LatentWindows:
        return cls(store.z, store.meta.segments, n_frames, split, val_fraction, seed,
                   store.posterior)

    @property
    def num_windows(self) -> int:
        return int(self._cum[-1])

    def _gather(self, rng: np.random.Generator, batch_size: int) -> np.ndarray:
        idx = rng.integers(0, self.num_windows, size=batch_size)
        seg = np.searchsorted(self._cum, idx, side="right")
        offset = idx - np.concatenate([[0], self._cum[:-1]])[seg]
        first = self._starts[seg] + offset
        out = np.stack([self.z[f:f + self.n_frames] for f in first])     # B T K
        if self.posterior is not None:  # a fresh posterior sample, projected (upstream)
            scales = np.stack([self.posterior.scale[f:f + self.n_frames] for f in first])
            out = self.posterior.sample(out, scales, rng)                  # B T k
        return np.ascontiguousarray(out.transpose(0, 2, 1), dtype=np.float32)

    def batch(self, step: int, batch_size: int) -> np.ndarray:
        """float32 [batch, k, n_frames] for training step `step`."""
        return self._gather(np.random.default_rng((self.seed, step)), batch_size)

    def val_batches(self, n_batches: int, batch_size: int) -> list[np.ndarray]:
        """The same validation windows every time (a fixed stream, apart from training's)."""
        rng = np.random.default_rng((self.seed, 2 ** 32 - 1))
        return [self._gather(rng, batch_size) for _ in range(n_batches)]
