"""Named configurations that reproduce the book's models, and the field's usual CelebA VAE at 64×64 and 128×128
(``faces-64``, ``faces-128``): the preset registry."""

from __future__ import annotations

from dataclasses import dataclass

from vaelab.data.corruption import Corruption
from vaelab.errors import ConfigError
from vaelab.models.recipe import Recipe
from vaelab.models.spec import ModelSpec


@dataclass(frozen=True, kw_only=True)
class Preset(Recipe):
    """A named :class:`~vaelab.models.recipe.Recipe`: a model plus the book's training recipe for it.

    Attributes:
        name: the preset's name on the command line.
        description: one line for ``vaelab presets``.
        (the recipe's fields): see :class:`~vaelab.models.recipe.Recipe`.
    """

    name: str
    description: str


#: The encoder widths of ``faces-64`` (PyTorch-VAE's ``VanillaVAE``); ``faces-128`` adds a stage of 512.
FACES_64_CHANNELS = (32, 64, 128, 256, 512)

#: ``book-faces``' weight on the per-pixel-channel MSE, at its 32×32 RGB images (D = 3,072 values).
BOOK_FACES_WEIGHT = 2000.0


def faces_reconstruction_weight(image_size: int) -> float:
    """The ``vae-mse`` weight w that keeps ``book-faces``' balance between reconstruction and KL at
    ``image_size``×``image_size`` RGB: w grows with the D values per image (2000 × D / 3,072), so the
    Gaussian decoder's variance σ² = D/(2w) stays the book's 0.768 and the loss stays that decoder's
    negative ELBO minus a constant. (8000 at 64×64, 32000 at 128×128; a fixed 2000 would weigh the KL
    4 and 16 times as much per value, and blur the faces.)"""
    return BOOK_FACES_WEIGHT * (image_size / 32) ** 2


def _faces_mirror(name: str, description: str, image_size: int, channels: tuple[int, ...]) -> Preset:
    """A ``faces-mirror`` VAE on CelebA at ``image_size``: z = 128, the ``vae-mse`` weight that keeps
    ``book-faces``' balance (:func:`faces_reconstruction_weight`), book-faces' schedule."""
    return Preset(
        name=name,
        description=description,
        dataset="celeba",
        model=ModelSpec(
            kind="vae",
            architecture="faces-mirror",
            latent_dim=128,
            image_channels=3,
            image_size=image_size,
            encoder_channels=channels,
        ),
        objective="vae-mse",
        objective_params={"reconstruction_weight": faces_reconstruction_weight(image_size)},
        epochs=10,
        batch_size=128,
        lr=5e-4,
    )


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            name="book-ae",
            description="the chapter's convolutional autoencoder on Fashion-MNIST, 2-D latent space",
            dataset="fashion-mnist",
            model=ModelSpec(kind="ae", latent_dim=2),
            objective="bce",
            epochs=3,
            batch_size=100,
            lr=1e-3,
        ),
        Preset(
            name="book-vae",
            description="the chapter's variational autoencoder on Fashion-MNIST, the book's loss "
            "500 × per-pixel BCE + KL",
            dataset="fashion-mnist",
            model=ModelSpec(kind="vae", latent_dim=2),
            objective="vae-book",
            objective_params={"reconstruction_weight": 500.0},
            epochs=5,
            batch_size=100,
            lr=5e-4,
        ),
        Preset(
            name="beta-vae",
            description="book-vae's network with the standard β-VAE loss, summed BCE + β × KL (β = 1: the ELBO)",
            dataset="fashion-mnist",
            model=ModelSpec(kind="vae", latent_dim=2),
            objective="beta-vae",
            objective_params={"beta": 1.0},
            epochs=5,
            batch_size=100,
            lr=5e-4,
        ),
        Preset(
            name="book-dae",
            description="denoising autoencoder: book-ae trained to restore images under Gaussian noise σ=0.3",
            dataset="fashion-mnist",
            model=ModelSpec(kind="ae", latent_dim=2),
            objective="bce",
            epochs=3,
            batch_size=100,
            lr=1e-3,
            corruption=Corruption("gaussian", 0.3),
        ),
        Preset(
            name="book-faces",
            description="the chapter's CelebA VAE: 32×32 RGB faces, BatchNorm + LeakyReLU(0.3), z = 200, "
            "the book's loss 2000 × per-pixel MSE + KL",
            dataset="celeba",
            model=ModelSpec(
                kind="vae",
                architecture="book-faces",
                latent_dim=200,
                image_channels=3,
                image_size=32,
                encoder_channels=(128, 128, 128, 128),
            ),
            objective="vae-mse",
            objective_params={"reconstruction_weight": BOOK_FACES_WEIGHT},
            epochs=10,
            batch_size=128,
            lr=5e-4,
        ),
        # faces-64: trainable parameters encoder 2,095,104 (VanillaVAE's own), decoder 1,846,627 (VanillaVAE's
        # 1,842,531 plus the BatchNorm after its Linear layer); see vaelab.models.faces_conv, docs/faces.md
        _faces_mirror(
            "faces-64",
            "the field's usual CelebA VAE at 64×64 RGB: PyTorch-VAE's VanillaVAE widths 32…512 "
            "with book-faces' BatchNorm + LeakyReLU(0.3), z = 128, 8000 × per-pixel MSE + KL (book-faces' balance)",
            64,
            FACES_64_CHANNELS,
        ),
        # faces-128: encoder 4,455,936, decoder 4,207,459 (faces-64's and a 512 → 512 stage on each side)
        _faces_mirror(
            "faces-128",
            "faces-64 at 128×128 RGB: one more stride-2 stage (widths 32…512, 512), z = 128, "
            "32000 × per-pixel MSE + KL (book-faces' balance)",
            128,
            (*FACES_64_CHANNELS, 512),
        ),
        Preset(
            name="cvae",
            description="conditional VAE: book-vae's network with the class (one-hot) fed to encoder and decoder, "
            "summed BCE + KL (the conditional ELBO), prior N(0, I)",
            dataset="fashion-mnist",
            model=ModelSpec(kind="cvae", latent_dim=2, conditions=10),
            objective="beta-vae",
            objective_params={"beta": 1.0},
            epochs=5,
            batch_size=100,
            lr=5e-4,
        ),
        Preset(
            name="iwae",
            description="book-vae's network trained on the importance-weighted bound with k = 5 draws per image "
            "(Burda et al., 2016)",
            dataset="fashion-mnist",
            model=ModelSpec(kind="iwae", latent_dim=2, samples=5),
            objective="iwae",
            epochs=5,
            batch_size=100,
            lr=5e-4,
        ),
        Preset(
            name="vamp",
            description="book-vae's network with a VampPrior, a mixture of q(z|u_k) at 500 learnt pseudo-inputs, "
            "summed BCE + β × KL (Tomczak and Welling, 2018)",
            dataset="fashion-mnist",
            model=ModelSpec(kind="vamp", latent_dim=2, pseudo_inputs=500),
            objective="vamp",
            objective_params={"beta": 1.0},
            epochs=5,
            batch_size=100,
            lr=5e-4,
        ),
        Preset(
            name="rae",
            description="regularised autoencoder (RAE-L2, Ghosh et al. 2020) on book-ae's network: summed BCE "
            "+ β·½‖z‖² (β = 0.1) + λ·‖θ_dec‖² (λ = 1e-4); samples from the ex-post GMM",
            dataset="fashion-mnist",
            model=ModelSpec(kind="rae", latent_dim=2),
            objective="rae",
            objective_params={"beta": 0.1, "decoder_weight": 1e-4},
            epochs=5,
            batch_size=100,
            lr=5e-4,
        ),
        Preset(
            name="wae-mmd",
            description="Wasserstein autoencoder (Tolstikhin et al. 2018) on book-ae's network: summed BCE "
            "+ λ·MMD²(q(z), N(0, I)), IMQ kernel, λ = 250",
            dataset="fashion-mnist",
            model=ModelSpec(kind="wae-mmd", latent_dim=2),
            objective="wae-mmd",
            objective_params={"mmd_weight": 250.0},
            epochs=5,
            batch_size=100,
            lr=5e-4,
        ),
        Preset(
            name="info-vae",
            description="InfoVAE (Zhao et al. 2019) on book-vae's network: summed BCE + (1 − α)·KL "
            "+ (α + λ − 1)·MMD², α = 0, λ = 1000",
            dataset="fashion-mnist",
            model=ModelSpec(kind="info-vae", latent_dim=2),
            objective="info-vae",
            objective_params={"alpha": 0.0, "lambda_": 1000.0},
            epochs=5,
            batch_size=100,
            lr=5e-4,
        ),
        Preset(
            name="beta-tcvae",
            description="β-TCVAE (Chen et al. 2018) on book-vae's network: summed BCE + MI + β·TC + "
            "dimension-wise KL (minibatch-weighted sampling), β = 6",
            dataset="fashion-mnist",
            model=ModelSpec(kind="beta-tcvae", latent_dim=2),
            objective="beta-tcvae",
            objective_params={"alpha": 1.0, "beta": 6.0, "gamma": 1.0},
            epochs=5,
            batch_size=100,
            lr=5e-4,
        ),
        Preset(
            name="vq-vae",
            description="VQ-VAE (van den Oord et al. 2017) on book-ae's convolutions without the dense layer: "
            "8×8 codes from K = 256 vectors of D = 16 learnt by EMA, summed BCE + β·commitment, β = 0.25",
            dataset="fashion-mnist",
            model=ModelSpec(kind="vq-vae", latent_dim=16, encoder_channels=(32, 64), codebook_size=256),
            objective="vq-vae",
            objective_params={"beta": 0.25},
            epochs=5,
            batch_size=100,
            lr=5e-4,
        ),
    ]
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; a :class:`ConfigError` listing the known ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)} (see `vaelab presets`)"
        ) from None
