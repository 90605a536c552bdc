"""The conditional VAE (``cvae``): the model and its conditioning, its objective, training and exact
resume, the class reaching every analysis, sampling by class, conditional accuracy, the explorer's class
selector, and one-line refusals of misuse."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from model_outputs import score
from vaelab.data.image_set import ImageSet
from vaelab.errors import ConfigError
from vaelab.evaluation.conditional import conditional_accuracy
from vaelab.latent.codec import decode_points, encode_images
from vaelab.latent.conditions import cycled_classes, resolve_class
from vaelab.models import ModelSpec, build_model, get_preset
from vaelab.models.build import count_parameters
from vaelab.models.cvae import ConditionalVAE
from vaelab.training import RunConfig, RunDir, prepare_config, train
from vaelab.training.objectives import make_objective

QUIET = {"progress": False, "log": lambda s: None}


def cvae(latent_dim: int = 2, conditions: int = 10, seed: int = 0) -> ConditionalVAE:
    torch.manual_seed(seed)
    model = build_model(ModelSpec(kind="cvae", latent_dim=latent_dim, conditions=conditions))
    assert isinstance(model, ConditionalVAE)
    return model.eval()


def labels(*values: int) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.int64)


# ---- the model --------------------------------------------------------------------------------------


def test_the_preset_is_book_vae_with_the_class_and_the_elbo():
    preset = get_preset("cvae")
    assert preset.model == ModelSpec(kind="cvae", latent_dim=2, conditions=10)
    assert (preset.objective, preset.objective_params) == ("beta-vae", {"beta": 1.0})
    assert (preset.epochs, preset.batch_size, preset.lr, preset.dataset) == (5, 100, 5e-4, "fashion-mnist")
    assert RunConfig.from_preset("cvae").to_dict()["model"]["conditions"] == 10


def test_capabilities_and_parameter_counts():
    model = cvae()
    assert model.facts() == {
        "family": "cvae",
        "posterior": "gaussian",
        "has_prior": True,
        "default_sampler": "prior",
        "conditional": True,
        "continuous_codes": True,
    }
    assert model.standard_normal_prior and model.condition_dim == 10
    # book-vae's encoder 100,868 + the one-hot's 10 inputs to each 2-wide head; decoder 246,273 + 10 × 2,048
    assert count_parameters(model.encoder) == 100_868 + 2 * 10 * 2
    assert count_parameters(model.decoder) == 246_273 + 10 * 2048


def test_decoding_the_same_z_under_two_classes_gives_two_images():
    model = cvae()
    z = torch.randn(3, 2)
    with torch.no_grad():
        coat = model.decode(z, labels(4, 4, 4))
        bag = model.decode(z, labels(8, 8, 8))
        again = model.decode(z, labels(4, 8, 4))
    assert (coat - bag).abs().amax(dim=(1, 2, 3)).min() > 1e-4
    assert torch.equal(again[0], coat[0]) and torch.equal(again[1], bag[1])


def test_the_decoder_adds_each_class_s_own_vector_to_its_first_layer():
    model = cvae()
    linear = model.decoder.body.from_latent
    assert linear.in_features == 2 + 10
    z = torch.randn(2, 2)
    one_hot = torch.nn.functional.one_hot(labels(3, 7), 10).float()
    expected = z @ linear.weight[:, :2].T + linear.bias + one_hot @ linear.weight[:, 2:].T
    assert torch.allclose(linear(torch.cat([z, one_hot], 1)), expected, atol=1e-6)


def test_the_encoder_s_output_depends_on_the_class():
    model = cvae()
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        a = model.encode(x, labels(0, 1))
        b = model.encode(x, labels(5, 1))
    assert not torch.allclose(a.mean[0], b.mean[0]) and not torch.allclose(a.log_var[0], b.log_var[0])
    assert torch.equal(a.mean[1], b.mean[1])  # the same image under the same class


def test_the_model_needs_its_classes_and_a_spec_needs_their_number():
    model = cvae()
    with pytest.raises(ValueError, match="needs a class for every image"):
        model.encode(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="needs a class"):
        model.decode(torch.zeros(1, 2))
    with pytest.raises(ConfigError, match="number of classes"):
        build_model(ModelSpec(kind="cvae"))
    assert "conditions" not in ModelSpec(kind="vae").to_dict()  # configs of other families unchanged


def test_the_forward_pass_draws_z_from_the_class_conditional_posterior():
    model = cvae()
    x, y = torch.rand(4, 1, 32, 32), labels(0, 3, 3, 9)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        output = model(x, y, generator=generator)
        posterior = model.encode(x, y)
        eps = torch.randn((4, 2), generator=torch.Generator().manual_seed(1))
        z = posterior.mean + torch.exp(0.5 * posterior.log_var) * eps
    assert torch.allclose(output.z, z) and torch.allclose(output.logits, model.decode_logits(z, y))


# ---- the objective: the conditional ELBO is beta-vae's, on the class-conditional output ----------------


def test_the_conditional_elbo_terms_by_hand():
    model = cvae()
    x, y = torch.rand(3, 1, 32, 32), labels(1, 2, 3)
    output = model(x, y, generator=torch.Generator().manual_seed(0))
    terms = score(make_objective("beta-vae", {"beta": 1.0}), output, x, model=model, labels=y)
    mean, log_var = output.posterior.mean, output.posterior.log_var
    p = torch.sigmoid(output.logits)
    bce = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1)  # −log p(x|z, y), nats per image
    kl = 0.5 * (mean**2 + log_var.exp() - 1 - log_var).sum(1)  # KL(q(z|x, y) ‖ N(0, I)), nats per image
    assert torch.allclose(terms["reconstruction_nats"], bce.mean(), rtol=1e-4)
    assert torch.allclose(terms["kl"], kl.mean(), rtol=1e-5)
    assert torch.allclose(terms["loss"], (bce + kl).mean(), rtol=1e-4)
    assert torch.allclose(terms["neg_elbo_nats"], terms["loss"])


# ---- training ---------------------------------------------------------------------------------------


def _config(**overrides):
    settings = {"epochs": 2, "batch_size": 20, "lr": 2e-3, "seed": 0, "device": "cpu", **overrides}
    return RunConfig.from_preset("cvae", **settings)


def test_a_few_steps_on_labelled_data_lower_the_loss(tmp_path, train_images, test_images):
    history = train(_config(epochs=3), tmp_path / "run", train_set=train_images, test_set=test_images, **QUIET).history
    assert set(history[0]["train"]) == {"loss", "reconstruction_nats", "kl", "neg_elbo_nats"}
    assert history[-1]["train"]["loss"] < history[0]["train"]["loss"]
    assert history[-1]["val"]["neg_elbo_nats"] < history[0]["val"]["neg_elbo_nats"]


def test_the_labels_reach_training(tmp_path, train_images, test_images):
    """Training on shuffled labels gives other weights than training on the true ones."""
    rng = np.random.default_rng(0)
    shuffled = replace(train_images, labels=rng.permutation(train_images.labels))
    a = train(_config(epochs=1), tmp_path / "a", train_set=train_images, test_set=test_images, **QUIET)
    b = train(_config(epochs=1), tmp_path / "b", train_set=shuffled, test_set=test_images, **QUIET)
    assert a.history[0]["train"] != b.history[0]["train"]


def test_resume_continues_exactly(tmp_path, train_images, test_images):
    data = {"train_set": train_images, "test_set": test_images, **QUIET}
    straight = train(_config(epochs=2), tmp_path / "straight", **data).history
    train(_config(epochs=1), tmp_path / "resumed", **data)
    config = prepare_config(RunDir(tmp_path / "resumed"), None, resume=True, epochs=2)
    resumed = train(config, tmp_path / "resumed", resume=True, **data).history
    assert [row["epoch"] for row in straight] == [1, 2] == [row["epoch"] for row in resumed]
    for a, b in zip(straight, resumed, strict=True):
        assert a["train"] == b["train"] and a["val"] == b["val"]
    weights = load_file(str(RunDir(tmp_path / "straight").model))
    again = load_file(str(RunDir(tmp_path / "resumed").model))
    assert weights.keys() == again.keys() and all(torch.equal(weights[k], again[k]) for k in weights)


def test_training_refuses_images_without_the_classes(tmp_path, train_images, test_images):
    unlabelled = ImageSet(train_images.images, None, (), "pictures")
    with pytest.raises(ConfigError, match="conditioned on classes and the pictures images have none"):
        train(_config(), tmp_path / "a", train_set=unlabelled, test_set=test_images, **QUIET)
    five = ImageSet(train_images.images, train_images.labels % 5, tuple("abcde"), "five")
    with pytest.raises(ConfigError, match="conditioned on 10 classes but the five images have 5"):
        train(_config(), tmp_path / "b", train_set=five, test_set=test_images, **QUIET)


@pytest.mark.parametrize("dataset", ["celeba", "image-folder"])
def test_a_dataset_without_classes_is_refused_before_any_data(dataset):
    with pytest.raises(ConfigError, match=f"conditioned on 10 classes but {dataset} has images without classes"):
        RunConfig.from_preset("cvae", dataset=dataset)


# ---- choosing classes -------------------------------------------------------------------------------

FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@pytest.mark.parametrize("value, index", [("Coat", 4), ("coat", 4), ("4", 4), (4, 4), ("ankle BOOT", 9), (0, 0)])
def test_a_class_by_name_or_index(value, index):
    assert resolve_class(cvae(), FASHION, value) == index


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("Cot", "unknown class 'Cot'; did you mean Coat?"),
        ("10", "--class 10 is out of range: the model has 10 classes (0 to 9)"),
        (-1, "--class -1 is out of range"),
        ("４", "unknown class '４'"),  # a full-width digit is a name, not a number
        ("-1", "--class -1 is out of range: the model has 10 classes (0 to 9)"),
        (2.0, "must be a class name or index"),
    ],
)
def test_a_class_that_does_not_exist_is_refused(value, fragment):
    with pytest.raises(ConfigError, match=None) as refused:
        resolve_class(cvae(), FASHION, value)
    assert fragment in str(refused.value) and "\n" not in str(refused.value)


def test_a_class_for_a_model_that_takes_none_is_refused():
    vae = build_model(ModelSpec(kind="vae"))
    assert resolve_class(vae, FASHION, None) is None
    with pytest.raises(ConfigError, match="this run's vae model takes no class: leave it out"):
        resolve_class(vae, FASHION, "Coat")


def test_cycled_classes_are_balanced():
    classes = cycled_classes(25, 10)
    assert classes.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert set(np.bincount(classes, minlength=10)) == {2, 3}


# ---- conditional accuracy ---------------------------------------------------------------------------


def test_conditional_accuracy_by_hand():
    names = ("a", "b", "c")
    requested = np.array([0, 0, 1, 1, 1, 1, 2, 2])
    assigned = np.array([0, 1, 1, 1, 1, 0, 0, 0])
    probabilities = np.eye(3)[assigned] * 0.7 + 0.1
    result = conditional_accuracy(probabilities, requested, names)
    assert result["per_class"] == {"a": 0.5, "b": 0.75, "c": 0.0}
    assert result["samples_per_class"] == {"a": 2, "b": 4, "c": 2}
    assert result["mean"] == pytest.approx((0.5 + 0.75 + 0.0) / 3)
    assert (result["worst_class"], result["worst"]) == ("c", 0.0)
    assert result["overall"] == pytest.approx(4 / 8)
    with pytest.raises(ValueError, match="class names"):
        conditional_accuracy(probabilities, requested, names[:2])
    with pytest.raises(ValueError, match="from 0 to 2"):
        conditional_accuracy(probabilities, requested + 1, names)


# ---- analyses of a tiny cvae run ---------------------------------------------------------------------


def test_every_image_is_encoded_and_decoded_under_its_own_class(cvae_run, test_images):
    from vaelab.latent import embed, reconstruct

    model, first = cvae_run.model, test_images.head(10)
    z = encode_images(model, first.images, labels=first.labels)
    assert np.array_equal(embed(model, test_images, 10).z, z)
    assert not np.allclose(encode_images(model, first.images, labels=(first.labels + 1) % 10), z)
    result = reconstruct(model, test_images, 10)
    assert np.array_equal(result.reconstructions, decode_points(model, z, labels=first.labels))


def test_reconstruct_embed_denoise_on_a_cvae(cvae_run, test_images):
    from vaelab.presentation.report import write_denoising, write_embedding, write_reconstructions

    written = write_reconstructions(cvae_run, test_images) + write_embedding(cvae_run, test_images, count=40)
    written += write_denoising(cvae_run, test_images)
    assert {p.name for p in written} >= {"reconstructions.png", "latent_scatter.png", "latent_cdf.png", "denoising.png"}
    assert all(p.stat().st_size > 0 for p in written)


def test_generate_cycles_through_the_classes_by_default(cvae_run, test_images):
    from vaelab.presentation.report import write_generated

    written = write_generated(cvae_run, test_images, seed=3)
    assert [p.name for p in written] == ["generated.png", "generated_classes.png", "generated.json", "generated.npz"]
    data = json.loads(written[2].read_text())
    arrays = np.load(written[3])
    assert len(data["points"]) == 60 and data["classes"] == cycled_classes(60, 10).tolist()
    assert data["class_names"] == list(test_images.class_names) and data["sampler"] == "prior"
    assert np.array_equal(arrays["labels"], data["classes"])
    expected = decode_points(cvae_run.model, arrays["points"], labels=arrays["labels"])
    assert np.array_equal(arrays["images"], expected)


def test_generate_one_class_by_name_or_index(cvae_run, test_images):
    from vaelab.presentation.report import write_generated

    write_generated(cvae_run, test_images, seed=3)  # leaves generated_classes.png
    written = write_generated(cvae_run, test_images, count=8, seed=3, condition="shape-4")
    assert [p.name for p in written] == ["generated.png", "generated.json", "generated.npz"]
    assert not cvae_run.dir.figure_path("generated_classes.png").exists()  # it showed other samples
    data = json.loads(written[1].read_text())
    assert data["classes"] == [4] * 8
    by_index = write_generated(cvae_run, test_images, count=8, seed=3, condition=4)
    assert json.loads(by_index[1].read_text()) == data


def test_grid_per_class_and_for_a_chosen_class(cvae_run, test_images):
    from vaelab.latent.grids import decode_quantile_grid
    from vaelab.presentation.report import write_grid

    written = write_grid(cvae_run, test_images, size=3)
    assert [p.name for p in written] == [f"latent_grid_class{k}.{ext}" for k in range(10) for ext in ("png", "npz")]
    seven = np.load(cvae_run.dir.figure_path("latent_grid_class7.npz"))
    assert int(seven["condition"]) == 7 and str(seven["class_name"]) == "shape-7"
    assert np.array_equal(seven["images"], decode_quantile_grid(cvae_run.model, 2, 3, condition=7).images)
    three = np.load(cvae_run.dir.figure_path("latent_grid_class3.npz"))
    assert not np.allclose(three["images"], seven["images"])  # the same z, another class
    chosen = write_grid(cvae_run, test_images, size=3, span="embeddings", condition="shape-2")
    assert [p.name for p in chosen] == ["latent_grid_class2.png", "latent_grid_class2.npz"]


def test_attribute_arithmetic_and_morph_on_a_cvae(cvae_run, train_images, test_images):
    from vaelab.latent.morph import morph
    from vaelab.presentation.attribute_report import write_arithmetic, write_morph

    written = write_arithmetic(
        cvae_run, test_images, "shape-3", against="shape-8", factors="-1,0,1", images=3, train_set=train_images
    )
    assert {p.suffix for p in written} == {".png", ".npz", ".json"}
    result = np.load(cvae_run.dir.figure_path("arithmetic-shape-3-vs-shape-8.npz"))
    first = test_images.labels[:3]
    at_zero = decode_points(cvae_run.model, result["latent"][:, 1], labels=first)  # f = 0: the reconstructions
    assert np.allclose(result["images"][:, 1], at_zero, atol=1e-6)

    start, end = 0, int(np.flatnonzero(test_images.labels != test_images.labels[0])[0])
    path = morph(cvae_run.model, test_images, start, end, steps=4)
    classes = np.where(path.fractions < 0.5, test_images.labels[start], test_images.labels[end])
    assert np.array_equal(path.images, decode_points(cvae_run.model, path.points, labels=classes))
    assert [p.suffix for p in write_morph(cvae_run, test_images, start, end, steps=4)] == [".png", ".npz"]


@pytest.fixture(scope="module")
def coat_blind_judge(tmp_path_factory):
    """A judge that assigns the i-th image it scores to class i mod 10, except that it never sees class
    4 ("Coat"): those go to 6 ("Shirt"). Samples are drawn under class i mod 10, so its conditional
    accuracy is 1 for every class but Coat, 0 for Coat."""
    from vaelab.evaluation.judge.network import JudgeNet
    from vaelab.evaluation.judge.storage import Judge

    class CoatBlind(Judge):
        def predict_proba(self, images, batch_size=500):
            assigned = np.arange(len(images)) % 10
            assigned[assigned == 4] = 6
            return np.eye(10, dtype=np.float32)[assigned]

    torch.manual_seed(0)
    return CoatBlind(JudgeNet().eval(), 0.9, "0" * 64, tmp_path_factory.mktemp("judge") / "judge.safetensors")


def test_evaluate_reports_the_conditional_accuracy(cvae_run, train_images, test_images, coat_blind_judge):
    from vaelab.evaluation.run_measures import write_evaluation

    (path,) = write_evaluation(
        cvae_run, train_images, test_images, coat_blind_judge, num_samples=50, likelihood_images=20, progress=False
    )
    result = json.loads(path.read_text())["samplers"]["prior"]
    accuracy = result["conditional_accuracy"]
    assert accuracy["per_class"] == {name: (0.0 if name == "shape-4" else 1.0) for name in test_images.class_names}
    assert accuracy["samples_per_class"] == dict.fromkeys(test_images.class_names, 5)
    assert (accuracy["worst_class"], accuracy["worst"], accuracy["mean"]) == ("shape-4", 0.0, pytest.approx(0.9))
    assert result["likelihood"]["images"] == 20 and np.isfinite(result["likelihood"]["neg_elbo_nats"])
    from vaelab.presentation.compare import collect_rows

    (row,) = collect_rows([cvae_run.dir.path])
    assert (row["cond. acc. mean"], row["cond. acc. worst"]) == (pytest.approx(0.9), 0.0)


def test_diagnose_runs_on_a_cvae(cvae_run, train_images, coat_blind_judge):
    from vaelab.presentation.diagnostics_report import write_diagnostics

    png, data = write_diagnostics(cvae_run, train_images, coat_blind_judge, None, num_samples=60)
    summary = json.loads(data.read_text())["samplers"]["prior"]
    assert summary["p1_crowding"]["conditional_accuracy"]["worst_class"] == "shape-4"
    assert summary["p1_crowding"]["class_shares"]["shape-4"] == 0.0  # the judge never says Coat
    assert 0 <= summary["p3_holes"]["hole_fraction"] <= 1 and png.exists()


def test_sample_sets_are_class_balanced(cvae_run, train_images):
    from vaelab.evaluation.sampling import draw_samples

    samples = draw_samples(cvae_run.model, train_images, "prior", 30, seed=0)
    assert np.array_equal(samples.labels, cycled_classes(30, 10))
    assert np.array_equal(samples.images, decode_points(cvae_run.model, samples.points, labels=samples.labels))
    expected_z = encode_images(cvae_run.model, train_images.images, labels=train_images.labels)
    assert np.array_equal(samples.train_z, expected_z)


@pytest.mark.parametrize(
    "analysis, condition, fragment",
    [
        ("write_generated", "shape-11", "unknown class 'shape-11'; did you mean shape-1"),
        ("write_grid", 10, "--class 10 is out of range"),
    ],
)
def test_analyses_refuse_a_class_that_does_not_exist(cvae_run, test_images, analysis, condition, fragment):
    from vaelab.presentation import report

    with pytest.raises(ConfigError, match=None) as refused:
        getattr(report, analysis)(cvae_run, test_images, condition=condition)
    assert fragment in str(refused.value)


def test_analyses_refuse_images_without_classes(cvae_run, test_images):
    from vaelab.presentation.report import write_reconstructions

    unlabelled = ImageSet(test_images.images, None, (), "pictures")
    with pytest.raises(ConfigError, match="conditioned on classes and the pictures images have none"):
        write_reconstructions(cvae_run, unlabelled)


# ---- the explorer -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def explorer(cvae_run, test_images):
    from fastapi.testclient import TestClient

    from vaelab.presentation.explorer.app import create_app

    torch.set_num_threads(1)
    with TestClient(create_app(cvae_run, test_images, points=20)) as client:
        yield client


def _png(response) -> np.ndarray:
    import io

    from PIL import Image

    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content))).astype(int)


def test_the_explorer_decodes_under_the_chosen_class(explorer, cvae_run):
    facts = explorer.get("/api/run").json()
    assert facts["conditional"] is True and facts["kind"] == "cvae"
    for k in (2, 6):
        pixels = _png(explorer.get("/api/decode", params={"x": 0.3, "y": -0.2, "class": k}))
        expected = decode_points(cvae_run.model, np.array([[0.3, -0.2]], np.float32), labels=np.array([k]))[0, 0]
        assert np.abs(pixels - np.rint(expected * 255)).max() <= 1
    two = _png(explorer.get("/api/decode?x=0.3&y=-0.2&class=2"))
    assert not np.array_equal(two, _png(explorer.get("/api/decode?x=0.3&y=-0.2&class=6")))


def test_the_explorer_reconstructs_each_image_under_its_class(explorer, cvae_run, test_images):
    pixels = _png(explorer.get("/api/image/5"))
    z = encode_images(cvae_run.model, test_images.images[5:6], labels=test_images.labels[5:6])
    expected = decode_points(cvae_run.model, z, labels=test_images.labels[5:6])[0, 0]
    assert np.abs(pixels[:, 32:] - np.rint(expected * 255)).max() <= 1
    assert explorer.get("/api/morph", params={"start": 0, "end": 5, "steps": 4}).status_code == 200


@pytest.mark.parametrize(
    "query, fragment",
    [
        ("x=0&y=0", "class: Field required"),
        ("x=0&y=0&class=10", "class: Input should be less than or equal to 9"),
        ("x=0&y=0&class=-1", "class: Input should be greater than or equal to 0"),
        ("x=0&y=0&class=Coat", "class: Input should be a plain integer"),
        ("x=0&y=0&class=1_0", "class: Input should be a plain integer"),
    ],
)
def test_the_explorer_refuses_a_missing_or_bad_class(explorer, query, fragment):
    answer = explorer.get(f"/api/decode?{query}")
    assert answer.status_code == 422 and fragment in answer.json()["detail"]


def test_the_class_is_in_the_schema_of_a_conditional_run_only(explorer, client):
    def decode_parameters(answer):
        return {p["name"]: p for p in answer.json()["paths"]["/api/decode"]["get"]["parameters"]}

    conditional = decode_parameters(explorer.get("/openapi.json"))
    assert conditional["class"]["required"] is True
    assert (conditional["class"]["schema"]["minimum"], conditional["class"]["schema"]["maximum"]) == (0, 9)
    assert "shape-4" in conditional["class"]["description"]
    assert "class" not in decode_parameters(client.get("/openapi.json"))
    refused = client.get("/api/decode?x=0&y=0&class=3")
    assert refused.status_code == 422
    assert refused.json() == {
        "detail": "class chooses the class a conditional model (cvae) decodes under; this run's ae model takes no "
        "class: leave it out"
    }
    assert client.get("/api/run").json()["conditional"] is False


@pytest.fixture(scope="module")
def client(trained_run, test_images):
    from fastapi.testclient import TestClient

    from vaelab.presentation.explorer.app import create_app

    torch.set_num_threads(1)
    with TestClient(create_app(trained_run, test_images, points=20)) as client:
        yield client


def test_the_page_offers_the_class_selector():
    from vaelab.presentation.explorer.app import STATIC_DIR

    page, script = (STATIC_DIR / "index.html").read_text(), (STATIC_DIR / "explorer.js").read_text()
    assert 'id="decode-class"' in page and 'id="class-choice" class="controls" hidden' in page
    assert "&class=" in script and "facts.conditional" in script


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("schemathesis") is None, reason="schemathesis is not installed")
def test_every_answer_of_a_cvae_explorer_conforms_to_the_openapi_document(cvae_run, test_images):
    from test_explorer import API_PATHS, schema_checks, schema_statuses
    from vaelab.presentation.explorer.app import create_app

    statuses = schema_statuses(create_app(cvae_run, test_images, points=20), schema_checks("not_a_server_error"))
    assert {path for path, status in statuses if status == 200} == API_PATHS - {"/api/codebook"}  # continuous codes
    assert {status for path, status in statuses if path == "/api/codebook"} == {404}
    assert {200, 422} <= {status for _, status in statuses} <= {200, 404, 422}
