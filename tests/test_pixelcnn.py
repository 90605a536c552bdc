"""The gated PixelCNN prior (issue 14, part 2): causality — the logits at a position never depend on
that position or a later one in raster order — checked by gradients and by perturbing codes; no blind
spot; class conditioning; sampling and the NLL's units."""

from __future__ import annotations

import math

import pytest
import torch

from vaelab.errors import ConfigError
from vaelab.models.pixelcnn import GatedPixelCNN

GRID = (5, 6)
POSITIONS = GRID[0] * GRID[1]


def network(classes: int = 0, layers: int = 4, kernel: int = 3, channels: int = 6) -> GatedPixelCNN:
    torch.manual_seed(0)
    return GatedPixelCNN(codes=7, grid=GRID, channels=channels, layers=layers, kernel=kernel, classes=classes).double()


def dependence(model: GatedPixelCNN, position: int, labels: torch.Tensor | None = None) -> torch.Tensor:
    """|∂ logits at ``position`` / ∂ input embedding|, summed over channels, per input position
    (raster order) [H·W]."""
    embedded = model.embed(torch.randint(7, (4, *GRID))).detach().requires_grad_()
    logits = model.logits_of(embedded, labels)
    i, j = divmod(position, GRID[1])
    logits[:, :, i, j].sum().backward()
    assert embedded.grad is not None
    return embedded.grad.abs().sum(dim=(0, 1)).flatten()


@pytest.mark.parametrize("kernel", [3, 5])
@pytest.mark.parametrize("classes", [0, 3])
def test_a_positions_logits_depend_on_no_position_at_or_after_it(kernel, classes):
    model = network(classes, kernel=kernel)
    labels = torch.tensor([0, 2, 1, 0]) if classes else None
    for position in range(POSITIONS):
        grad = dependence(model, position, labels)
        assert torch.all(grad[position:] == 0), f"position {position} sees {grad[position:].nonzero().flatten()}"


def test_no_blind_spot_the_whole_past_is_seen():
    model = network(layers=6, channels=16)  # the receptive field covers the 5 × 6 grid
    for position in range(POSITIONS):
        grad = dependence(model, position)
        missed = (grad[:position] == 0).nonzero().flatten()
        assert not len(missed), f"position {position} misses {missed}"


def test_changing_one_code_changes_only_later_logits():
    model = network(layers=6, channels=16)
    codes = torch.randint(7, (1, *GRID))
    before = model(codes).flatten(2)
    for position in range(POSITIONS):
        changed = codes.clone().flatten()
        changed[position] = (changed[position] + 1) % 7
        after = model(changed.view(1, *GRID)).flatten(2)
        assert torch.equal(after[..., : position + 1], before[..., : position + 1]), position
        if position + 1 < POSITIONS:
            assert not torch.equal(after[..., position + 1 :], before[..., position + 1 :]), position


def test_the_class_reaches_every_position_including_the_first():
    model = network(classes=3)
    codes = torch.randint(7, (1, *GRID))
    first, other = model(codes, torch.tensor([0])), model(codes, torch.tensor([1]))
    assert (first - other).abs().flatten(2).amax(dim=1).min() > 0
    with pytest.raises(ValueError, match="needs a class"):
        model(codes)
    with pytest.raises(ValueError, match="takes no classes"):
        network()(codes, torch.tensor([0]))


def test_sampling_and_bits_per_code():
    model = network(classes=3).float()
    generator = torch.Generator().manual_seed(1)
    labels = torch.tensor([0, 1, 2])
    codes = model.sample(3, labels, generator)
    assert codes.shape == (3, *GRID) and codes.dtype == torch.long and codes.min() >= 0 and codes.max() < 7
    again = model.sample(3, labels, torch.Generator().manual_seed(1))
    assert torch.equal(codes, again)
    bits = model.nll_bits(codes, labels)
    logits = model(codes, labels)
    expected = -torch.log_softmax(logits, dim=1).gather(1, codes.unsqueeze(1)).flatten(1).mean(dim=1) / math.log(2)
    torch.testing.assert_close(bits, expected)


@pytest.mark.parametrize("kernel", [3, 5])
def test_sampling_on_the_rows_so_far_draws_what_the_whole_grid_would(kernel):
    """The sampler runs row i's passes on rows 0…i only: the draws are those of passes over the whole grid."""
    model = network(classes=3, kernel=kernel)
    labels = torch.tensor([0, 1, 2, 0])
    drawn = model.sample(4, labels, torch.Generator().manual_seed(5))
    generator = torch.Generator().manual_seed(5)
    whole = torch.zeros((4, *GRID), dtype=torch.long)
    for i in range(GRID[0]):
        for j in range(GRID[1]):
            probabilities = torch.softmax(model(whole, labels)[:, :, i, j].float(), dim=1)
            whole[:, i, j] = torch.multinomial(probabilities, 1, generator=generator).squeeze(1)
    assert torch.equal(drawn, whole)


def test_bad_settings_are_refused_in_one_line():
    with pytest.raises(ConfigError, match="odd and at least 3"):
        GatedPixelCNN(codes=4, grid=GRID, kernel=4)
