"""A TorchScript module for nn~: encode, decode, forward (and prior) over audio buffers.

`build(trained, streaming, prior)` turns a `TrainedRAVE` (and optionally its trained prior)
into a `torch.jit.ScriptModule` whose file opens with `torch.jit.load` alone: the weights are
plain tensors (weight norm folded in) and the code is compiled into the file, so neither
ravejobs nor its dependencies are needed where Max/MSP or Ableton run it.

Latents are what `TrainedRAVE.encode` gives: PCA coordinates of the encoder means, cropped to
`latent_size` (fidelity 0.95 rounded up to a power of two, or `cropped_latent_size`). decode
sets the dropped PCA coordinates to their mean, and fills decoder inputs beyond the encoder's
dimensions (`cropped_latent_size`) with unit noise, as training did.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ravejobs.export import nn_tilde
from ravejobs.export import v2 as export_v2
from ravejobs.export.streaming import (
    CachedConv1d,
    StreamPQMF,
    convert_decoder,
    convert_encoder,
)


def causal(conv: nn.Conv1d) -> CachedConv1d:
    """The prior's left-padded CausalConv1d as a cached (incremental) convolution."""
    pad = (conv.kernel_size[0] - 1) * conv.dilation[0]
    return CachedConv1d(conv.weight, conv.bias, 1, conv.dilation[0], conv.groups, (pad, 0),
                        streaming=True)


class PriorBlock(nn.Module):
    """The prior's gated residual block (ravejobs.prior.model.ResidualBlock), scriptable."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.dconv = causal(block.dconv)
        self.rconv = copy.deepcopy(block.rconv)
        self.sconv = copy.deepcopy(block.sconv)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = self.dconv(x).chunk(2, 1)
        h = torch.sigmoid(a) * torch.tanh(b)
        return x + self.rconv(h), self.sconv(h)


class PriorNet(nn.Module):
    """The prior's WaveNet run incrementally: one position in, next-position logits out.

    Its causal convolutions keep caches, so each step costs one position instead of the whole
    receptive field, and a sequence continues from buffer to buffer. It starts as
    `ravejobs.prior.sample` does (position 0 = the centre bin, zeros before it), so with
    temperature 0 it yields the same bins. Latents come out diagonally un-shifted: dimension
    i of the frame emitted after position p is read from position p - (k - 1 - i), which is how
    the prior was trained (dimension 0 leads); the first k - 1 frames read the centre bin for
    the not-yet-made positions.
    """

    def __init__(self, prior: nn.Module):
        super().__init__()
        self.pre_net = nn.Sequential(causal(prior.pre_net[0]), nn.LeakyReLU(0.2))
        self.residuals = nn.ModuleList(PriorBlock(b) for b in prior.residuals)
        self.post_net = copy.deepcopy(prior.post_net)
        self.k = int(prior.latent_size)
        self.resolution = int(prior.resolution)
        self.register_buffer("bins", torch.zeros(0, self.k, self.k, dtype=torch.long))
        self.register_buffer("lag", torch.arange(self.k).long())

    def logits(self, last: torch.Tensor) -> torch.Tensor:
        """Logits (B, k, R) of the next position, given the newest position's bins (B, k)."""
        b = last.shape[0]
        x = F.one_hot(last, self.resolution).float().reshape(b, self.k * self.resolution, 1)
        res = self.pre_net(x)
        skip = torch.zeros(1)
        for block in self.residuals:
            res, s = block(res)
            skip = skip + s
        return self.post_net(skip).reshape(b, self.k, self.resolution)

    def values(self, bins: torch.Tensor, dither: bool) -> torch.Tensor:
        """Bins -> latent values through the inverse normal CDF (QuantizedNormal.values)."""
        offset = torch.rand(bins.shape) if dither else torch.full(bins.shape, 0.5)
        u = torch.clamp((bins.float() + offset) / self.resolution, 1e-6, 1 - 1e-6)
        return torch.clamp(torch.erfinv(2 * u - 1) * 1.4142135623730951, -4.0, 4.0)

    def forward(self, temperature: torch.Tensor, dither: bool) -> torch.Tensor:
        """temperature (B, frames) -> latents (B, k, frames); `dither` False takes argmax."""
        b, frames = temperature.shape[0], temperature.shape[1]
        if self.bins.shape[0] != b:   # new stream: start from the centre bin, empty caches
            self.bins = torch.full((b, self.k, self.k), self.resolution // 2, dtype=torch.long)
        bins = self.bins
        out = []
        index = self.lag.view(1, self.k, 1).expand(b, self.k, 1)
        # upstream (export_prior.py): one temperature per buffer, softplus(mean) / log 2, so
        # an unconnected inlet (0) samples at temperature 1; any value gives a positive one
        t = F.softplus(temperature.mean(-1)) / math.log(2.0)
        for _ in range(frames):
            logits = self.logits(bins[..., -1])
            if dither:
                scaled = logits / t.view(b, 1, 1)
                probs = torch.softmax(scaled, -1).reshape(b * self.k, self.resolution)
                nxt = torch.multinomial(probs, 1).reshape(b, self.k)
            else:  # deterministic (set_deterministic): the most likely bin
                nxt = logits.argmax(-1)
            bins = torch.cat([bins[..., 1:], nxt.unsqueeze(-1)], -1)
            out.append(bins.gather(2, index).squeeze(-1))
        self.bins = bins
        return self.values(torch.stack(out, -1), dither)


class ScriptedRAVE(nn.Module):
    """The nn~ face of a trained RAVE; scripted by `build`."""

    def __init__(self, trained: nn.Module, streaming: bool, prior: nn.Module | None = None):
        super().__init__()
        model = trained.model
        cfg = model.cfg
        self.streaming = streaming
        v2 = cfg.arch == "v2"  # RAVE v2's layers: ravejobs/export/v2.py
        self.pqmf = ((export_v2.StreamPQMF if v2 else StreamPQMF)(model.pqmf, streaming)
                     if model.pqmf is not None else None)
        bands = model.pqmf.bands if model.pqmf is not None else 1
        analysis = self.pqmf.analysis_delay if self.pqmf is not None else 0
        start = self.pqmf.synthesis_start if self.pqmf is not None else 0
        if v2:
            self.encoder, enc_frames = export_v2.convert_encoder(
                model.encoder, streaming, analysis, not model.wasserstein)
            self.decoder, dec_bands = export_v2.convert_decoder(model.decoder, streaming)
            if self.pqmf is not None:
                self.pqmf.synthesis.parity = dec_bands % 2  # v2: upstream 2.3.1's PQMF
        else:
            self.encoder, enc_frames = convert_encoder(model.encoder, streaming, analysis)
            self.decoder, dec_bands = convert_decoder(model.decoder, streaming)
            if self.pqmf is not None:
                self.pqmf.synthesis_parity = dec_bands % 2
        self.hop = int(cfg.hop)
        # Streaming latency in samples: a centred model's output is the whole-signal output
        # delayed by this much; 0 for no_latency models (beyond the causal PQMF's own delay).
        decode_latency = dec_bands * bands + start
        self.register_buffer("encode_latency", torch.tensor(enc_frames * self.hop))
        self.register_buffer("decode_latency", torch.tensor(decode_latency))
        self.register_buffer("forward_latency",
                             torch.tensor(enc_frames * self.hop + decode_latency))
        self.crop = int(trained.latent_size)      # dimensions nn~ sees
        self.kept = int(model.kept)               # dimensions the encoder outputs
        self.full = int(cfg.latent_size) + (cfg.noise_augmentation if v2 else 0)  # decoder's
        self.deterministic = False
        self.register_buffer("pca_mean", model.fidelity.mean.detach().clone().float())
        self.register_buffer("pca_components",
                             model.fidelity.components.detach().clone().float())
        self.cropped_latent_size = self.crop      # upstream's prior script reads this
        self.register_buffer("sampling_rate", torch.tensor(int(cfg.sr)))
        self.register_buffer("latent_size", torch.tensor(self.crop))
        self.register_buffer("max_batch_size", torch.tensor(nn_tilde.MAX_BATCH_SIZE))
        self.register_buffer("full_latent_size", torch.tensor(self.full))
        self.methods = []  # filled by nn_tilde.register below (List[str] when scripted)
        nn_tilde.register(self, "encode", 1, 1, self.crop, self.hop)
        nn_tilde.register(self, "decode", self.crop, self.hop, 1, 1)
        nn_tilde.register(self, "forward", 1, 1, 1, 1)
        self.prior_net = PriorNet(prior) if prior is not None else None
        if prior is not None:
            if int(prior.latent_size) != self.crop:
                raise ValueError(f"the prior models {prior.latent_size} latent dimensions but "
                                 f"the model exports {self.crop}; train the prior again")
            nn_tilde.register(self, "prior", 1, self.hop, self.crop, self.hop)

    # ------------------------------------------------------------------ nn~ methods

    @torch.jit.export
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Audio (B, 1, T) -> latents (B, latent_size, T / hop); T a multiple of hop."""
        if x.dim() != 3 or x.shape[1] != 1:
            raise ValueError("encode takes mono audio shaped (batch, 1, samples)")
        if x.shape[-1] % self.hop != 0:
            raise ValueError(f"encode: samples must be a multiple of the hop ({self.hop})")
        pqmf = self.pqmf
        bands = pqmf.analysis(x) if pqmf is not None else x
        h = self.encoder(bands)
        mean, scale = h[:, : self.kept], h[:, self.kept:]
        z = mean
        if not self.deterministic:  # upstream samples the posterior (export_rave.py)
            z = mean + (F.softplus(scale) + 1e-4) * torch.randn_like(mean)
        p = torch.einsum("dk,bkt->bdt", self.pca_components, z - self.pca_mean[:, None])
        return p[:, : self.crop]

    @torch.jit.export
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (B, latent_size, frames) -> audio (B, 1, frames * hop)."""
        if z.dim() != 3 or z.shape[1] != self.crop:
            raise ValueError(f"decode takes latents shaped (batch, {self.crop}, frames)")
        b, frames = z.shape[0], z.shape[-1]
        if self.kept > self.crop:  # dropped PCA axes: unit noise as upstream (zeros if set)
            pad = torch.zeros(b, self.kept - self.crop, frames)
            if not self.deterministic:
                pad = torch.randn(b, self.kept - self.crop, frames)
            z = torch.cat([z, pad], 1)
        latent = torch.einsum("dk,bdt->bkt", self.pca_components, z) + self.pca_mean[:, None]
        if self.full > self.kept:
            extra = torch.zeros(b, self.full - self.kept, frames)
            if not self.deterministic:
                extra = torch.randn(b, self.full - self.kept, frames)
            latent = torch.cat([latent, extra], 1)
        y = self.decoder(latent, not self.deterministic)
        pqmf = self.pqmf
        return pqmf.synthesis(y) if pqmf is not None else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Audio in, resynthesised audio out, same length (a multiple of hop)."""
        return self.decode(self.encode(x))

    @torch.jit.export
    def prior(self, temperature: torch.Tensor) -> torch.Tensor:
        """Temperature (B, 1, frames), one value per latent frame -> latents from the prior."""
        net = self.prior_net
        if net is None:
            raise ValueError("this model was exported without a prior")
        if temperature.dim() != 3 or temperature.shape[1] != 1:
            raise ValueError("prior takes a temperature signal shaped (batch, 1, frames)")
        return net(temperature[:, 0], not self.deterministic)

    # ------------------------------------------------------------------ nn~ discovery, helpers

    @torch.jit.export
    def get_methods(self) -> list[str]:
        return self.methods

    @torch.jit.export
    def get_attributes(self) -> list[str]:
        return []

    @torch.jit.export
    def set_deterministic(self, flag: bool) -> bool:
        """True: no noise synthesis, no random latent fill, no prior dither (for comparisons)."""
        self.deterministic = flag
        return flag

    @torch.jit.export
    def is_streaming(self) -> bool:
        return self.streaming


def build(trained: nn.Module, streaming: bool = False, prior: nn.Module | None = None
          ) -> torch.jit.ScriptModule:
    """Script a trained model (and prior). Streaming: cached convolutions, state from call to
    call (centred models then add latency); not streaming: each call on its own."""
    wrapper = ScriptedRAVE(trained, streaming, prior).eval().requires_grad_(False)
    with torch.no_grad():
        return torch.jit.script(wrapper)
