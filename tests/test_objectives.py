import math

import torch

from model_outputs import point_output, score
from vaelab.training.objectives import BceObjective, bce_per_image


def test_bce_matches_hand_computed_values():
    # two 1×1×2 "images": logits 0 → p = 0.5, so each pixel costs ln 2 whatever the target.
    logits = torch.zeros(2, 1, 1, 2)
    target = torch.tensor([[[[0.0, 1.0]]], [[[0.25, 0.75]]]])
    per_image = bce_per_image(logits, target)
    assert torch.allclose(per_image, torch.full((2,), 2 * math.log(2)))
    terms = score(BceObjective(), point_output(logits, torch.zeros(2, 2)), target)
    assert math.isclose(terms["loss"].item(), math.log(2), rel_tol=1e-6)  # per pixel
    assert math.isclose(terms["bce_nats"].item(), 2 * math.log(2), rel_tol=1e-6)  # per image


def test_bce_on_logits_equals_sigmoid_then_bce():
    torch.manual_seed(0)
    logits = torch.randn(3, 1, 4, 4) * 3
    target = torch.rand(3, 1, 4, 4)
    terms = score(BceObjective(), point_output(logits, torch.zeros(3, 2)), target)
    reference = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), target)
    assert torch.allclose(terms["loss"], reference, atol=1e-6)
