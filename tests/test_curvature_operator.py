"""The Hessian operator: Hessian-vector products against the closed form of least squares and
against finite differences of gradients (a CNN with BatchNorm), in both HVP modes, one vector or
several per pass; the user's model untouched. The closed-form cases here serve the other
curvature tests too."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import tiny_data, tiny_model
from landscape.curvature.operator import HessianOperator, HvpMode, NonFiniteLoss
from landscape.errors import LandscapeError


def single_thread() -> Iterator[None]:
    """Tiny models gain nothing from threads, and on a busy 2-core machine two threads per
    process contend badly (an HVP went from 17 to 80+ ms)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    yield from single_thread()


def sum_squares(model, batch):
    """Σ (f(x) − y)² and the count: with the mean taken over samples, H = 2 XᵀX / n."""
    x, y = batch
    return ((model(x) - y) ** 2).sum(), x.shape[0]


def least_squares(eigenvalues=None, n=48, d=10, seed=0, dtype=torch.float64):
    """(model, batches, H) for bias-free linear least squares; with `eigenvalues`, X is built so
    that H = 2 XᵀX / n has exactly those, else X is random and correlated."""
    g = torch.Generator().manual_seed(seed)
    if eigenvalues is None:
        x = torch.randn(n, d, generator=g, dtype=torch.float64) @ torch.randn(d, d, generator=g, dtype=torch.float64)
    else:
        lam = torch.as_tensor(eigenvalues, dtype=torch.float64)
        d = len(lam)
        u, _ = torch.linalg.qr(torch.randn(n, d, generator=g, dtype=torch.float64))
        v, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
        x = (n / 2) ** 0.5 * u @ torch.diag(lam.sqrt()) @ v.T
    y = torch.randn(n, 1, generator=g, dtype=torch.float64)
    torch.manual_seed(seed)
    model = nn.Linear(d, 1, bias=False).to(dtype).eval()
    x, y = x.to(dtype), y.to(dtype)
    batches = [(x[:20], y[:20]), (x[20:], y[20:])]  # two batches of different sizes
    h = (2 * x.double().T @ x.double() / n).numpy()
    return model, batches, h


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_unchanged(model, before, training=False):
    after = model.state_dict()
    assert list(after) == list(before)
    for k in before:
        assert torch.equal(after[k], before[k]), k
    assert model.training == training
    assert all(m.training == training for m in model.modules())


# ------------------------------------------------------------------------------- closed form


EXACT = (HvpMode.forward, HvpMode.reverse)  # the modes whose products are exact (fd: tested against them below)


@pytest.mark.parametrize("mode", EXACT)
def test_products_of_least_squares_are_2_xtx_over_n(mode):
    model, batches, h = least_squares()
    op = HessianOperator(model, batches, sum_squares, mode=mode, vectors_per_pass=2)
    vs = torch.randn(3, op.dim, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    np.testing.assert_allclose(op.matmat(vs).numpy(), vs.numpy() @ h.T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(op(vs[0]).numpy(), h @ vs[0].numpy(), rtol=1e-10, atol=1e-12)
    assert op.hvps == 4 and op.evaluation.samples == 48


def test_a_loss_that_is_not_finite_has_no_hessian():
    model, batches, _ = least_squares()
    nan = [(x, y * float("nan")) for x, y in batches]
    op = HessianOperator(model, nan, sum_squares)
    with pytest.raises(NonFiniteLoss, match="the loss at these weights is nan"):
        op.matmat(torch.ones(1, op.dim, dtype=torch.float64))
    with pytest.raises(LandscapeError, match="no data") as e:
        HessianOperator(model, [], sum_squares)
    assert e.value.field == "data"


# ------------------------------------------------------------------------------- HVPs


def cross_entropy_sum(model, batch):
    x, y = batch
    return F.cross_entropy(model(x), y, reduction="sum"), y.shape[0]


def gradient(model, batches, theta):
    """The gradient of the mean loss by plain autograd on a copy holding the weights `theta`."""
    m = copy.deepcopy(model)
    with torch.no_grad():
        for n, p in m.named_parameters():
            p.copy_(theta[n])
    total = sum(F.cross_entropy(m(x), y, reduction="sum") for x, y in batches) / sum(len(y) for _, y in batches)
    grads = torch.autograd.grad(total, list(m.parameters()))
    return torch.cat([g.reshape(-1) for g in grads])


@pytest.mark.parametrize("mode,per_pass", [(m, k) for k in (1, 3) for m in EXACT])
def test_hvp_equals_finite_differences_of_gradients(mode, per_pass):
    model = tiny_model().double().eval()  # BatchNorm in eval mode, perturbed running statistics
    data = tiny_data(40)
    batches = [(data.x[:25].double(), data.y[:25]), (data.x[25:].double(), data.y[25:])]
    before = state(model)
    op = HessianOperator(model, batches, cross_entropy_sum, mode=mode, vectors_per_pass=per_pass)
    g = torch.Generator().manual_seed(0)
    vs = torch.randn(3, op.dim, generator=g, dtype=torch.float64)
    vs /= torch.linalg.vector_norm(vs, dim=1, keepdim=True)
    hv = op.matmat(vs)
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    h = 1e-6  # small, so that no ReLU or max-pool switches within ±h v (float64 keeps the rounding error ~1e-10)
    for v, got in zip(vs, hv):
        step = op.unflatten(v.reshape(1, -1))
        plus = {n: base[n] + h * step[n][0] for n in base}
        minus = {n: base[n] - h * step[n][0] for n in base}
        fd = (gradient(model, batches, plus) - gradient(model, batches, minus)) / (2 * h)
        assert torch.linalg.vector_norm(got - fd) <= 1e-6 * torch.linalg.vector_norm(fd)
    assert op.hvps == 3 and op.mode == mode
    assert_unchanged(model, before)


def test_a_tensor_the_loss_never_reaches_has_a_zero_block_in_both_modes():
    class WithSpare(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = tiny_model()
            self.spare = nn.Linear(3, 2)  # never called: no gradient at all
            self.shift = nn.Parameter(torch.zeros(()))  # enters linearly: a constant gradient

        def forward(self, x):
            return self.net(x) + self.shift

    model = WithSpare().double().eval()
    data = tiny_data(30)
    batches = [(data.x.double(), data.y)]
    vs = torch.randn(2, sum(p.numel() for p in model.parameters()), generator=torch.Generator().manual_seed(1),
                     dtype=torch.float64)
    results = [HessianOperator(model, batches, cross_entropy_sum, mode=mode, vectors_per_pass=k).matmat(vs)
               for mode in EXACT for k in (1, 2)]
    for hv in results[1:]:
        torch.testing.assert_close(hv, results[0], rtol=1e-9, atol=1e-12)
    op = HessianOperator(model, batches, cross_entropy_sum, mode=HvpMode.reverse)
    block = op.unflatten(results[0])
    assert all(float(block[n].abs().max()) == 0.0 for n in ("spare.weight", "spare.bias"))


# ------------------------------------------------------------------------------- finite differences


class NoSecondDerivative(torch.autograd.Function):
    """sigmoid, whose own derivative is not implemented: a backward through it raises, as the
    double backward of a fused attention kernel does (pytorch#116350)."""

    @staticmethod
    def forward(ctx, x):
        return torch.sigmoid(x)

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("derivative for this fused kernel is not implemented")


class SoftplusOnce(torch.autograd.Function):
    """softplus with a first derivative only: no double backward, no forward AD (like a fused kernel)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return F.softplus(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * NoSecondDerivative.apply(x)


class Smooth(nn.Module):
    """A small smooth net (softplus, so that differences never straddle a kink); `once`: its
    activation has no second derivative."""

    def __init__(self, once: bool = False):
        super().__init__()
        self.a, self.b, self.once = nn.Linear(6, 8), nn.Linear(8, 3), once

    def forward(self, x):
        h = self.a(x)
        return self.b(SoftplusOnce.apply(h) if self.once else F.softplus(h))


def smooth_data(dtype):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(40, 6, generator=g, dtype=torch.float64).to(dtype)  # the same numbers in either dtype
    return [(x[:25], torch.arange(25) % 3), (x[25:], torch.arange(15) % 3)]


@pytest.mark.parametrize("dtype,bound", [(torch.float64, 1e-9), (torch.float32, 5e-4)])
def test_finite_differences_match_exact_products(dtype, bound):
    """The relative error of `HvpMode.fd` against exact float64 products, per vector: measured
    1.7e-10 to 2.2e-10 in float64 and 6e-5 to 1.3e-4 in float32 on this net (2026-12-07)."""
    torch.manual_seed(0)
    model = Smooth().to(dtype)
    exact_model = Smooth().double()
    exact_model.load_state_dict(model.state_dict())
    vs = torch.randn(3, sum(p.numel() for p in model.parameters()), generator=torch.Generator().manual_seed(1),
                     dtype=torch.float64)
    exact = HessianOperator(exact_model, smooth_data(torch.float64), cross_entropy_sum).matmat(vs)
    op = HessianOperator(model, smooth_data(dtype), cross_entropy_sum, mode=HvpMode.fd)
    fd = op.matmat(vs)
    error = torch.linalg.vector_norm(fd - exact, dim=1) / torch.linalg.vector_norm(exact, dim=1)
    assert float(error.max()) < bound and op.mode == HvpMode.fd and op.hvps == 3


def test_without_a_second_derivative_the_default_falls_back_to_finite_differences():
    torch.manual_seed(0)
    once, smooth = Smooth(once=True).double(), Smooth().double()
    smooth.load_state_dict({k: v for k, v in once.state_dict().items()})
    vs = torch.randn(2, sum(p.numel() for p in once.parameters()), generator=torch.Generator().manual_seed(2),
                     dtype=torch.float64)
    op = HessianOperator(once, smooth_data(torch.float64), cross_entropy_sum)  # the default: forward
    got = op.matmat(vs)
    assert op.mode == HvpMode.fd  # forward-over-reverse and double backward both failed: said in the result
    exact = HessianOperator(smooth, smooth_data(torch.float64), cross_entropy_sum).matmat(vs)
    torch.testing.assert_close(got, exact, rtol=1e-6, atol=1e-9)


def test_attention_without_double_backward_gets_finite_differences():
    """PyTorch's fused attention has no second derivative (pytorch#116350): the products fall
    back to finite differences, which agree with exact products of the math kernel."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, dropout=0.0)
            self.head = nn.Linear(16, 3)

        def forward(self, x):
            return self.head(self.layer(x).mean(1))

    torch.manual_seed(0)
    model = Encoder().eval()
    batches = [(torch.randn(8, 5, 16), torch.arange(8) % 3)]
    vs = torch.randn(2, sum(p.numel() for p in model.parameters()), generator=torch.Generator().manual_seed(3),
                     dtype=torch.float64)
    op = HessianOperator(model, batches, cross_entropy_sum)
    fd = op.matmat(vs)
    assert op.mode == HvpMode.fd
    with sdpa_kernel(SDPBackend.MATH):  # the math kernel has a second derivative: the exact reference
        exact = HessianOperator(model, batches, cross_entropy_sum, mode=HvpMode.reverse).matmat(vs)
    error = torch.linalg.vector_norm(fd - exact, dim=1) / torch.linalg.vector_norm(exact, dim=1)
    assert float(error.max()) < 1e-3  # measured 1.5e-4 (2026-12-07)


def test_auto_picks_the_faster_exact_mode_per_device():
    """reverse-over-reverse on a CPU (measured faster there), forward-over-reverse elsewhere."""
    from landscape.curvature.operator import exact_mode

    model, batches, _ = least_squares()
    assert HessianOperator(model, batches, sum_squares, mode=HvpMode.auto).mode == HvpMode.reverse  # on the CPU
    assert exact_mode(torch.device("cpu")) == HvpMode.reverse and exact_mode(torch.device("cuda", 0)) == HvpMode.forward
    assert HessianOperator(model, batches, sum_squares, mode=HvpMode.forward).mode == HvpMode.forward  # as asked
