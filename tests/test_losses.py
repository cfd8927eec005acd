"""The BCE loss against values worked out by hand."""

import math

import torch

from ganzoo.losses import BCELoss


def log1pexp(x: float) -> float:
    return math.log(1.0 + math.exp(x))


def test_bce_discriminator_loss_by_hand():
    real = torch.tensor([0.0, 2.0])
    fake = torch.tensor([-1.0, 3.0])
    # -log sigmoid(r) = log(1 + e^-r);  -log(1 - sigmoid(f)) = log(1 + e^f)
    expected = (log1pexp(-0.0) + log1pexp(-2.0)) / 2 + (log1pexp(-1.0) + log1pexp(3.0)) / 2
    # = (0.693147 + 0.126928) / 2 + (0.313262 + 3.048587) / 2 = 2.090962
    assert math.isclose(expected, 2.090962, abs_tol=1e-6)
    assert math.isclose(BCELoss().d_loss(real, fake).item(), expected, rel_tol=1e-6)


def test_bce_generator_loss_is_non_saturating():
    fake = torch.tensor([-1.0, 3.0])
    # -log sigmoid(f): large when D rejects the fake, unlike the saturating log(1 - D(G(z))).
    expected = (log1pexp(1.0) + log1pexp(-3.0)) / 2  # (1.313262 + 0.048587) / 2
    assert math.isclose(BCELoss().g_loss(fake).item(), expected, rel_tol=1e-6)
    assert math.isclose(expected, 0.680924, abs_tol=1e-6)


def test_bce_agrees_with_sigmoid_cross_entropy_for_moderate_logits():
    real, fake = torch.randn(64), torch.randn(64)
    bce = torch.nn.functional.binary_cross_entropy
    reference = bce(torch.sigmoid(real), torch.ones(64)) + bce(torch.sigmoid(fake), torch.zeros(64))
    assert torch.allclose(BCELoss().d_loss(real, fake), reference, atol=1e-5)


def test_bce_is_stable_for_huge_logits():
    loss = BCELoss()
    confident = loss.d_loss(torch.tensor([1000.0]), torch.tensor([-1000.0]))
    wrong = loss.d_loss(torch.tensor([-1000.0]), torch.tensor([1000.0]))
    assert confident.item() == 0.0
    assert math.isclose(wrong.item(), 2000.0)  # sigmoid-then-log would give inf (or clamp at 100)
    assert math.isclose(loss.g_loss(torch.tensor([-1000.0])).item(), 1000.0)


def test_bce_gradients_flow_only_from_logits():
    fake = torch.tensor([0.0], requires_grad=True)
    BCELoss().g_loss(fake).backward()
    # d/df softplus(-f) = -sigmoid(-f) = -0.5 at 0
    assert math.isclose(fake.grad.item(), -0.5)


def test_scores_report_probabilities():
    scores = BCELoss().scores(torch.tensor([0.0, 0.0]), torch.tensor([math.log(3.0)]))
    assert math.isclose(scores["D(x)"].item(), 0.5)
    assert math.isclose(scores["D(G(z))"].item(), 0.75, rel_tol=1e-6)


# --- the other losses, by hand (real logits [0, 2], fake logits [-1, 3]) -----------

from ganzoo.losses import (HingeLoss, LeastSquaresLoss, MinimaxLoss,  # noqa: E402
                           WassersteinLoss, gradient_penalty, r1_penalty)

REAL, FAKE = torch.tensor([0.0, 2.0]), torch.tensor([-1.0, 3.0])


def test_minimax_discriminator_is_bce_and_generator_saturates():
    assert torch.equal(MinimaxLoss().d_loss(REAL, FAKE), BCELoss().d_loss(REAL, FAKE))
    # g = mean(log(1 - sigmoid(f))) = -mean(log(1 + e^f)) = -(0.313262 + 3.048587) / 2
    assert math.isclose(MinimaxLoss().g_loss(FAKE).item(), -1.680924, abs_tol=1e-6)
    # saturation: at f = -10 the gradient is about -sigmoid(-10) / 1 = -4.5e-5, vs -1 for bce
    f = torch.tensor([-10.0], requires_grad=True)
    MinimaxLoss().g_loss(f).backward()
    assert abs(f.grad.item()) < 1e-4
    assert math.isclose(MinimaxLoss().g_loss(torch.tensor([-1000.0])).item(), 0.0, abs_tol=1e-12)


def test_wasserstein_by_hand():
    # d = mean(fake) - mean(real) = 1.0 - 1.0; with fake [-1, 2]: 0.5 - 1.0
    assert WassersteinLoss().d_loss(REAL, FAKE).item() == 0.0
    assert WassersteinLoss().d_loss(REAL, torch.tensor([-1.0, 2.0])).item() == -0.5
    assert WassersteinLoss().g_loss(FAKE).item() == -1.0


def test_hinge_by_hand():
    # relu(1 - 0) + relu(1 - 2) = 1 + 0 -> 0.5;  relu(1 - 1) + relu(1 + 3) = 0 + 4 -> 2.0
    assert HingeLoss().d_loss(REAL, FAKE).item() == 2.5
    assert HingeLoss().g_loss(FAKE).item() == -1.0


def test_least_squares_by_hand():
    # 0.5 * mean((0-1)^2, (2-1)^2) + 0.5 * mean((-1)^2, 3^2) = 0.5 + 2.5
    assert LeastSquaresLoss().d_loss(REAL, FAKE).item() == 3.0
    # 0.5 * mean((-1-1)^2, (3-1)^2) = 2.0
    assert LeastSquaresLoss().g_loss(FAKE).item() == 2.0


# --- regularizers ---------------------------------------------------------------------

class LinearCritic(torch.nn.Module):
    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(weight.clone())

    def forward(self, x, labels=None):
        return x.flatten(1) @ self.weight


def test_gradient_penalty_is_zero_for_a_unit_norm_linear_critic():
    weight = torch.randn(1 * 4 * 4)
    critic = LinearCritic(weight / weight.norm())
    real, fake = torch.randn(8, 1, 4, 4), torch.randn(8, 1, 4, 4)
    assert gradient_penalty(critic, real, fake).item() < 1e-10
    steep = LinearCritic(2 * weight / weight.norm())  # gradient norm 2 everywhere: (2 - 1)^2
    assert math.isclose(gradient_penalty(steep, real, fake).item(), 1.0, rel_tol=1e-5)


def test_gradient_penalty_matches_a_per_sample_reference():
    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Tanh(), torch.nn.Flatten(),
                                 torch.nn.Linear(4 * 6 * 6, 1), torch.nn.Flatten(0))
    wrapped = lambda x, labels=None: critic(x)  # noqa: E731
    real, fake = torch.randn(5, 3, 8, 8), torch.randn(5, 3, 8, 8)
    penalty = gradient_penalty(wrapped, real, fake, generator=torch.Generator().manual_seed(7))

    eps = torch.rand((5, 1, 1, 1), generator=torch.Generator().manual_seed(7))  # one factor per sample
    expected = []
    for i in range(5):
        x = (eps[i] * real[i] + (1 - eps[i]) * fake[i]).unsqueeze(0).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x).sum(), x)
        expected.append((grad.flatten().norm() - 1) ** 2)  # norm over C, H and W together
    assert torch.allclose(penalty, torch.stack(expected).mean(), rtol=1e-5)


def test_gradient_penalty_trains_the_critic():
    critic = LinearCritic(torch.tensor([3.0, 4.0]))
    gradient_penalty(critic, torch.randn(4, 2), torch.randn(4, 2)).backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 2 * 4 * [0.6, 0.8]
    assert torch.allclose(critic.weight.grad, torch.tensor([4.8, 6.4]), rtol=1e-5)


def test_r1_penalty_by_hand():
    critic = LinearCritic(torch.tensor([3.0, 4.0]))
    assert math.isclose(r1_penalty(critic, torch.randn(6, 2)).item(), 25.0, rel_tol=1e-6)
