"""The hand-written STFT magnitude and spectral distance must equal the same formulas on
torch.stft(...).abs() under torch's autograd, in value and in gradient."""

from __future__ import annotations

import pytest
import torch

from ravejobs.model.stft import EPS, log_linear_distance, overlap_add, stft_magnitude


def reference(x: torch.Tensor, n: int, hop: int, normalized: bool) -> torch.Tensor:
    window = torch.hann_window(n, dtype=x.dtype)
    return torch.stft(x, n, hop, n, window=window, center=True, normalized=normalized,
                      return_complex=True).abs()


CASES = [
    (2048, 512, True, 8192),   # a RAVE loss scale
    (128, 32, False, 1000),    # length not a multiple of the hop
    (64, 48, True, 300),       # hop that does not divide the window
    (15, 5, False, 40),        # odd window: no Nyquist bin
]


def reference_distance(x: torch.Tensor, y: torch.Tensor, n: int, hop: int,
                       normalized: bool) -> torch.Tensor:
    sx, sy = reference(x, n, hop, normalized), reference(y, n, hop, normalized)
    lin = torch.linalg.vector_norm(sx - sy) / torch.linalg.vector_norm(sx).clamp_min(EPS)
    return lin + (torch.log(sx + EPS) - torch.log(sy + EPS)).abs().mean()


@pytest.mark.parametrize(("n", "hop", "normalized", "length"), CASES)
def test_values_and_gradients_match_torch_stft(n: int, hop: int, normalized: bool,
                                               length: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, length, dtype=torch.float64, requires_grad=True)
    ours, theirs = stft_magnitude(x, n, hop, normalized), reference(x, n, hop, normalized)
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    weights = torch.randn_like(ours)  # a generic upstream gradient, not just ones
    (g_ours,) = torch.autograd.grad((ours * weights).sum(), x)
    (g_theirs,) = torch.autograd.grad((theirs * weights).sum(), x)
    torch.testing.assert_close(g_ours, g_theirs, rtol=1e-10, atol=1e-12)


def test_gradcheck() -> None:
    x = torch.randn(2, 50, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: stft_magnitude(s, 16, 4, True), (x,))


def test_silence_gives_zero_gradient_not_nan() -> None:
    x = torch.zeros(2, 500, requires_grad=True)
    stft_magnitude(x, 64, 16).sum().backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    assert not x.grad.any()


def test_overlap_add_is_the_adjoint_of_framing() -> None:
    """<frames(x), f> == <x, overlap_add(f)> for any x, f: the definition of the adjoint."""
    torch.manual_seed(1)
    for n, hop, length in [(8, 2, 30), (8, 3, 31), (8, 8, 40)]:
        x = torch.randn(2, length, dtype=torch.float64)
        frames = x.unfold(-1, n, hop)
        f = torch.randn_like(frames)
        lhs = (frames * f).sum()
        rhs = (x * overlap_add(f, hop, length)).sum()
        torch.testing.assert_close(lhs, rhs)


@pytest.mark.parametrize(("n", "hop", "normalized", "length"), CASES)
def test_distance_and_its_gradient_match_autograd(n: int, hop: int, normalized: bool,
                                                  length: int) -> None:
    torch.manual_seed(2)
    x = torch.randn(3, length, dtype=torch.float64)
    y = (x + 0.3 * torch.randn_like(x)).requires_grad_()
    ours = log_linear_distance(x, y, n, hop, normalized)
    theirs = reference_distance(x, y, n, hop, normalized)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    (g_ours,) = torch.autograd.grad(3.0 * ours, y)  # a non-unit upstream gradient
    (g_theirs,) = torch.autograd.grad(3.0 * theirs, y)
    torch.testing.assert_close(g_ours, g_theirs, rtol=1e-9, atol=1e-12)


def test_distance_gradcheck() -> None:
    x = torch.randn(2, 64, dtype=torch.float64)
    y = (x + torch.randn_like(x)).requires_grad_()
    assert torch.autograd.gradcheck(lambda s: log_linear_distance(x, s, 16, 4, True), (y,))


def test_perfect_reconstruction_has_a_finite_gradient() -> None:
    x = torch.randn(2, 256)
    y = x.clone().requires_grad_()
    d = log_linear_distance(x, y, 64, 16)
    d.backward()
    assert float(d.detach()) == pytest.approx(0.0, abs=1e-6)
    assert y.grad is not None and torch.isfinite(y.grad).all()


def test_distance_refuses_a_target_that_wants_a_gradient() -> None:
    x = torch.randn(1, 256, requires_grad=True)
    with pytest.raises(ValueError, match="target"):
        log_linear_distance(x, torch.randn(1, 256), 64, 16)


def test_distance_under_no_grad_matches_the_reference() -> None:
    x, y = torch.randn(1, 512), torch.randn(1, 512)
    with torch.no_grad():
        d = log_linear_distance(x, y, 64, 16, True)
    torch.testing.assert_close(d, reference_distance(x, y, 64, 16, True))
