"""book-faces: parameter counts, image sizes, the vae-mse objective, and image options in RunConfig."""

import json
import math

import pytest
import torch

from model_outputs import gaussian_output, score
from vaelab.data import ImageOptions
from vaelab.errors import ConfigError
from vaelab.models import ModelOutput, build_model, count_parameters, get_preset
from vaelab.training import RunConfig
from vaelab.training.objectives import VaeMseObjective, make_objective


def _running_stats(module: torch.nn.Module) -> int:
    return sum(b.numel() for name, b in module.named_buffers() if name.endswith(("running_mean", "running_var")))


def test_book_faces_parameter_counts_match_the_book():
    model = build_model(get_preset("book-faces").model)
    assert count_parameters(model.encoder) == 652_560
    assert count_parameters(model.decoder) == 698_755
    # the book's totals also count BatchNorm's running means and variances
    assert count_parameters(model.encoder) + _running_stats(model.encoder) == 653_584
    assert count_parameters(model.decoder) + _running_stats(model.decoder) == 700_803


@pytest.mark.parametrize("size, flat", [(32, 512), (64, 2048)])
def test_book_faces_shapes_at_32_and_64(size, flat):
    config = RunConfig.from_preset("book-faces", image_size=size)
    assert config.data_options.image_size == size == config.model.image_size
    torch.manual_seed(0)
    model = build_model(config.model).eval()
    assert model.encoder.z_mean.in_features == flat and model.decoder.from_latent[0].out_features == flat
    x = torch.rand(3, 3, size, size)
    out = model(x)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (3, 3, size, size) and out.posterior.mean.shape == (3, 200)
    assert model.decode(out.z).min() >= 0 and model.decode(out.z).max() <= 1


def test_book_faces_image_size_must_halve_four_times():
    with pytest.raises(ConfigError, match="divisible by 16"):
        RunConfig.from_preset("book-faces", image_size=40)


def test_vae_mse_on_hand_computed_tensors():
    # one 1×2×2 image; logits 0 decode to 0.5 everywhere
    target = torch.tensor([[[[0.0, 1.0], [0.5, 0.25]]]])
    output = gaussian_output(torch.zeros(1, 1, 2, 2), torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2))
    terms = score(VaeMseObjective(2000.0), output, target)
    squared_error = 0.25 + 0.25 + 0.0 + 0.0625
    assert terms["reconstruction"].item() == pytest.approx(squared_error / 4)
    assert terms["kl"].item() == pytest.approx(0.5)  # 0.5 · mean² in the first dimension
    assert terms["loss"].item() == pytest.approx(2000 * squared_error / 4 + 0.5)
    variance = 4 / (2 * 2000)  # σ² = D / (2w)
    nll = squared_error / (2 * variance) + 2 * math.log(2 * math.pi * variance)
    assert terms["neg_elbo_nats"].item() == pytest.approx(nll + 0.5, rel=1e-6)
    # the book's loss is the negative ELBO minus a constant (D/2)·log(2πσ²)
    assert terms["neg_elbo_nats"].item() - terms["loss"].item() == pytest.approx(
        2 * math.log(2 * math.pi * variance), abs=1e-3
    )


def test_vae_mse_averages_over_the_batch():
    torch.manual_seed(0)
    logits, target = torch.randn(4, 3, 2, 2), torch.rand(4, 3, 2, 2)
    output = gaussian_output(logits, torch.zeros(4, 2), torch.zeros(4, 2), torch.zeros(4, 2))
    terms = score(make_objective("vae-mse", {"reconstruction_weight": 10.0}), output, target)
    expected = torch.nn.functional.mse_loss(torch.sigmoid(logits), target)
    assert terms["reconstruction"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert terms["loss"].item() == pytest.approx(10 * expected.item(), rel=1e-6)


def test_beta_sets_the_faces_reconstruction_weight():
    assert RunConfig.from_preset("book-faces", beta=500).objective_params == {"reconstruction_weight": 500.0}


def test_image_options_are_saved_and_old_configs_still_load():
    config = RunConfig.from_preset("book-faces", image_size=64, center_crop=True, on_bad_image="skip")
    data = json.loads(config.to_json())
    assert data["data_options"] == {"image_size": 64, "center_crop": True, "on_bad_image": "skip"}
    assert RunConfig.from_dict(data) == config
    old = RunConfig.from_preset("book-ae").to_dict()
    del old["data_options"]  # written before issue 5
    assert RunConfig.from_dict(old) == RunConfig.from_preset("book-ae")


def test_dataset_override_fits_the_model_to_its_images():
    config = RunConfig.from_preset("book-vae", dataset="image-folder", image_size=64)
    assert config.model.image_channels == 3 and config.model.image_size == 64
    assert config.data_options == ImageOptions(64)
    assert RunConfig.from_preset("book-faces", dataset="fashion-mnist").model.image_channels == 1


def test_image_options_are_refused_for_fashion_mnist_and_on_resume():
    with pytest.raises(ConfigError, match="--image-size: only for datasets read from image files"):
        RunConfig.from_preset("book-ae", image_size=64)
    config = RunConfig.from_preset("book-faces")
    with pytest.raises(ConfigError, match="cannot change --image-size"):
        config.resumed_with(image_size=64)
    assert config.resumed_with(image_size=32, epochs=12).epochs == 12
    with pytest.raises(ConfigError, match="--dataset"):
        config.resumed_with(dataset="image-folder")


def test_config_whose_model_does_not_fit_its_data_is_refused():
    data = RunConfig.from_preset("book-faces").to_dict()
    data["data_options"]["image_size"] = 64
    with pytest.raises(ConfigError, match="32×32 images but the data are 64×64"):
        RunConfig.from_dict(data)


def test_a_last_batch_of_one_image_is_left_out_for_batchnorm(tmp_path):
    """17 images at batch 8: book-faces trains on two batches of 8 (BatchNorm cannot normalise the
    single 17th image); a model without BatchNorm trains on all 17."""
    from synthetic import synthetic_images
    from vaelab.training import train

    images = synthetic_images(17, size=16, channels=3, seed=0)
    faces = RunConfig.from_preset("book-faces", image_size=16, latent_dim=4, epochs=1, batch_size=8)
    result = train(
        faces, tmp_path / "faces", train_set=images, test_set=images.head(4), progress=False, log=lambda _: None
    )
    assert len(result.history) == 1 and math.isfinite(result.history[0]["train"]["loss"])
    assert json.loads((tmp_path / "faces" / "metrics.jsonl").read_text().splitlines()[0])["epoch"] == 1

    from vaelab.data.batching import DeviceImages

    data = DeviceImages(images.images, None, torch.device("cpu"))
    assert data.num_batches(8) == 3 and data.num_batches(8, min_last=2) == 2
    assert [b.shape[0] for b in data.batches(8, min_last=2)] == [8, 8]
    assert [b.shape[0] for b in data.batches(8, torch.randperm(17), start=1, min_last=2)] == [8]
    assert [b.shape[0] for b in data.batches(8)] == [8, 8, 1]


def test_batch_size_one_is_refused_for_batchnorm(tmp_path):
    from synthetic import synthetic_images
    from vaelab.training import train

    images = synthetic_images(8, size=16, channels=3)
    config = RunConfig.from_preset("book-faces", image_size=16, latent_dim=4, epochs=1, batch_size=1)
    with pytest.raises(ConfigError, match="--batch-size 2 or more"):
        train(config, tmp_path / "faces", train_set=images, test_set=images, progress=False, log=lambda _: None)
    assert not (tmp_path / "faces").exists()
