import json

import pytest
import torch

from vaelab.data.corruption import KINDS, Corruption, override_corruption
from vaelab.errors import ConfigError
from vaelab.latent.denoising import denoise, denoising_corruption, psnr
from vaelab.presentation import report
from vaelab.training import RunConfig, RunDir, load_run, prepare_config, train


def test_gaussian_noise_has_the_right_spread_and_stays_in_range():
    x = torch.full((20, 1, 32, 32), 0.5)
    noisy = Corruption("gaussian", 0.1)(x, torch.Generator().manual_seed(0))
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert (noisy - x).std().item() == pytest.approx(0.1, rel=0.05)


def test_salt_pepper_and_mask_hit_the_stated_fraction():
    x = torch.full((20, 1, 32, 32), 0.5)
    salted = Corruption("salt-pepper", 0.2)(x, torch.Generator().manual_seed(0))
    assert (salted != 0.5).float().mean().item() == pytest.approx(0.2, abs=0.01)
    assert set(torch.unique(salted).tolist()) == {0.0, 0.5, 1.0}
    masked = Corruption("mask", 0.5)(x, torch.Generator().manual_seed(0))
    assert (masked == 0).float().mean().item() == pytest.approx(0.5, abs=0.01)


def test_corruption_is_seeded():
    x = torch.rand(4, 1, 8, 8)
    c = Corruption("gaussian", 0.3)
    assert torch.equal(c(x, torch.Generator().manual_seed(5)), c(x, torch.Generator().manual_seed(5)))
    assert not torch.equal(c(x, torch.Generator().manual_seed(5)), c(x, torch.Generator().manual_seed(6)))


@pytest.mark.parametrize("kind, amount", [("blur", 0.1), ("gaussian", 0.0), ("mask", 1.5), ("salt-pepper", -0.1)])
def test_bad_corruptions_are_config_errors(kind, amount):
    with pytest.raises(ConfigError):
        Corruption(kind, amount)


def test_psnr_matches_its_formula():
    clean = torch.zeros(2, 1, 4, 4)
    estimate = torch.stack([torch.full((1, 4, 4), 0.1), torch.full((1, 4, 4), 0.01)])
    assert psnr(estimate, clean).tolist() == pytest.approx([20.0, 40.0], abs=1e-4)
    assert psnr(clean, clean).tolist() == pytest.approx([100.0, 100.0])


def test_book_dae_preset_and_corruption_options():
    assert RunConfig.from_preset("book-dae").corruption == Corruption("gaussian", 0.3)
    assert RunConfig.from_preset("book-ae").corruption is None
    assert RunConfig.from_preset("book-ae", corruption="mask").corruption == Corruption("mask", 0.5)
    assert RunConfig.from_preset("book-dae", noise_amount=0.5).corruption == Corruption("gaussian", 0.5)
    config = RunConfig.from_preset("book-dae", corruption="salt-pepper", noise_amount=0.1)
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


GAUSSIAN, MASK = Corruption("gaussian", 0.3), Corruption("mask", 0.4)


@pytest.mark.parametrize(
    "base, kind, amount, expected",
    [
        (None, None, None, None),  # nothing asked: no corruption
        (MASK, None, None, MASK),
        (None, None, 0.2, Corruption("gaussian", 0.2)),  # an amount alone: gaussian
        (MASK, None, 0.2, Corruption("mask", 0.2)),  # an amount alone: base's kind
        (MASK, "mask", None, MASK),  # the same kind keeps base's amount
        (MASK, "salt-pepper", None, Corruption("salt-pepper", 0.2)),  # another kind: its default amount
        (None, "mask", None, Corruption("mask", 0.5)),
        (GAUSSIAN, "mask", 0.1, Corruption("mask", 0.1)),
    ],
)
def test_the_corruption_override_rule(base, kind, amount, expected):
    assert override_corruption(base, kind, amount) == expected


@pytest.mark.parametrize("kind", [None, *KINDS])
@pytest.mark.parametrize("amount", [None, 0.15])
def test_train_resume_and_denoise_override_the_corruption_alike(kind, amount):
    for preset in ("book-ae", "book-dae"):
        saved = RunConfig.from_preset(preset)
        wanted = override_corruption(saved.corruption, kind, amount)
        assert RunConfig.from_preset(preset, corruption=kind, noise_amount=amount).corruption == wanted
        if wanted == saved.corruption:
            assert saved.resumed_with(corruption=kind, noise_amount=amount) == saved
        else:
            with pytest.raises(ConfigError, match="--resume cannot change it"):
                saved.resumed_with(corruption=kind, noise_amount=amount)
        evaluated = denoising_corruption(saved.corruption, kind, amount)
        assert evaluated == override_corruption(saved.corruption or Corruption("gaussian", 0.3), kind, amount)


def test_an_unknown_corruption_or_bad_amount_is_one_line_naming_the_flag():
    with pytest.raises(ConfigError, match="unknown corruption 'blur'"):
        override_corruption(None, "blur", None)
    with pytest.raises(ConfigError, match="--noise-amount"):
        override_corruption(MASK, None, 2.0)


def test_denoising_training_raises_psnr(tmp_path, train_images, test_images):
    config = RunConfig.from_preset("book-dae", epochs=6, batch_size=10, lr=2e-3, seed=0, device="cpu", noise_amount=0.5)
    train(config, tmp_path / "dae", train_set=train_images, test_set=test_images, progress=False, log=lambda s: None)
    run = load_run(tmp_path / "dae", "cpu")
    result = denoise(run.model, test_images, config.corruption, seed=0)
    assert result.count == len(test_images)
    assert result.psnr_denoised > result.psnr_noisy + 1.0, (result.psnr_noisy, result.psnr_denoised)
    png, data = report.write_denoising(run, test_images)
    assert png.read_bytes()[:4] == b"\x89PNG"
    saved = json.loads(data.read_text())
    assert saved["corruption"] == {"kind": "gaussian", "amount": 0.5}
    assert saved["psnr_gain_db"] == pytest.approx(saved["psnr_denoised_db"] - saved["psnr_noisy_db"])
    with pytest.raises(ConfigError, match="cannot change"):
        prepare_config(RunDir(tmp_path / "dae"), None, resume=True, noise_amount=0.1)
