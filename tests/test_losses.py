import math

import pytest
import torch

from ganforge.losses import LOSSES, bce_discriminator_loss, minimax_generator_loss, non_saturating_generator_loss


def test_losses_on_known_logits():
    zero = torch.zeros(4)
    # D(x) = sigmoid(0) = 0.5 for both: -log(0.5) for real + -log(0.5) for fake
    assert bce_discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert non_saturating_generator_loss(zero).item() == pytest.approx(math.log(2))
    assert minimax_generator_loss(zero).item() == pytest.approx(-math.log(2))
    # A confident, correct D: real logit +10, fake logit -10 -> loss near 0
    assert bce_discriminator_loss(torch.full((3,), 10.0), torch.full((3,), -10.0)).item() < 1e-3


def test_label_smoothing_targets_one_minus_s():
    logits = torch.tensor([2.0])
    smoothed = bce_discriminator_loss(logits, torch.tensor([-50.0]), real_target=0.9).item()
    p = torch.sigmoid(logits).item()
    assert smoothed == pytest.approx(-(0.9 * math.log(p) + 0.1 * math.log(1 - p)), rel=1e-5)


def test_minimax_saturates_where_non_saturating_does_not():
    """When D confidently rejects fakes (logit -8), minimax gives G almost no gradient; non-saturating a strong one."""
    logits = torch.full((1,), -8.0, requires_grad=True)
    (g_minimax,) = torch.autograd.grad(minimax_generator_loss(logits), logits)
    logits2 = torch.full((1,), -8.0, requires_grad=True)
    (g_ns,) = torch.autograd.grad(non_saturating_generator_loss(logits2), logits2)
    assert abs(g_minimax.item()) < 1e-3
    assert abs(g_ns.item()) > 0.99
    # both push the fake logit up (G wants D to call fakes real): negative gradient of the loss
    assert g_minimax.item() < 0 and g_ns.item() < 0


def test_registry_names_and_unknown_loss():
    assert {"minimax", "non-saturating"} <= set(LOSSES.names())
    with pytest.raises(Exception, match="unknown loss 'non-saturting'.*did you mean 'non-saturating'"):
        LOSSES.get("non-saturting")
