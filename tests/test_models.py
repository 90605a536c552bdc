import json

import pytest
import torch

from vaelab.errors import ConfigError
from vaelab.models import ModelSpec, build_model, count_parameters, get_preset
from vaelab.training import RunConfig


def test_book_ae_parameter_counts_match_the_book():
    model = build_model(get_preset("book-ae").model)
    assert count_parameters(model.encoder) == 96_770
    assert count_parameters(model.decoder) == 246_273


def test_book_ae_shapes():
    model = build_model(get_preset("book-ae").model)
    x = torch.rand(4, 1, 32, 32)
    out = model(x)
    assert out.z.shape == (4, 2)
    assert out.logits.shape == (4, 1, 32, 32)
    images = model.decode(out.z)
    assert images.min() >= 0 and images.max() <= 1


@pytest.mark.parametrize("latent_dim", [2, 16])
def test_model_rebuilt_from_config_json_alone(latent_dim):
    config = RunConfig.from_preset("book-ae", latent_dim=latent_dim)
    text = json.dumps(config.to_dict())
    rebuilt = RunConfig.from_dict(json.loads(text))
    assert rebuilt == config
    torch.manual_seed(0)
    a = build_model(config.model)
    b = build_model(rebuilt.model)
    b.load_state_dict(a.state_dict())
    x = torch.rand(2, 1, 32, 32)
    assert torch.equal(a(x).logits, b(x).logits)
    assert a.encode(x).mean.shape == (2, latent_dim)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="book-ae"):
        get_preset("book-xyz")


@pytest.mark.parametrize(
    "settings",
    [{"kind": "gan"}, {"latent_dim": 0}, {"image_size": 30}, {"architecture": "resnet"}],
)
def test_invalid_model_spec_is_rejected(settings):
    with pytest.raises(ConfigError):
        ModelSpec(**settings)


def test_unknown_config_keys_are_rejected():
    data = RunConfig.from_preset("book-ae").to_dict()
    data["model"]["depth"] = 3
    with pytest.raises(ConfigError, match="depth"):
        RunConfig.from_dict(data)
