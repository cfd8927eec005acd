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
