"""The ``two-stage`` sampler (Dai & Wipf, 2019): a second, small VAE fitted to the training embeddings.

A first-stage model (any vaelab family with continuous codes) leaves its training embeddings z in a
region whose shape its prior (or, for an autoencoder, nothing) does not describe: the *aggregate*
posterior q(z) is not N(0, I), so decoding prior draws lands in holes. Dai & Wipf ("Diagnosing and
enhancing VAE models", ICLR 2019) fit a second VAE to the embeddings, with its own latent u of the
same size as z, and sample by

    u ~ N(0, I)  →  second decoder  →  z  →  the model's decoder.

The second VAE is a density model of points in R^d, which a small MLP learns in seconds where the
first stage needed convolutions and minutes. Its negative ELBO per point x (nats), with
q(u|x) = N(μ(x), diag σ²(x)), p(u) = N(0, I) and p(x|u) = N(x; x̂(u), γ²I):

    −ELBO(x) = E_q[Σ_d ½ log 2π + log γ + (x_d − x̂_d(u))² / (2γ²)] + KL(q(u|x) ‖ N(0, I))

(the first term from one reparameterised draw of u, the KL in closed form).

**The paper's choices** (its code, ``daib13/TwoStageVAE``): encoder and decoder each 3 fully connected
ReLU layers of 1,024 units, with the input concatenated to the last hidden layer (a skip connection)
before the output heads; u of the same dimension κ as z; a Gaussian decoder with one *learned
scalar* γ, initialised at 1, which the paper shows must be learned (γ → 0 at the optimum when the
points lie on a manifold, where the second VAE recovers q(z)); Adam, learning rate 1e-4 halved every
150 epochs, 800 epochs at batch 64 over sampled z ~ q(z|x); samples decode the mean x̂(u), without
the γ noise.

**vaelab's defaults** (:class:`TwoStageSettings`), chosen to fit in seconds on a CPU:

* the same architecture at 3 × 256 units (z has 2 to a few hundred dimensions here, not the paper's
  64 from 64×64 CelebA), skip connection included; u of z's dimension;
* the learned scalar γ, as the paper, but **initialised at 0.1**: on standardised embeddings γ = 1
  is exactly the noise of a decoder that ignores u and outputs the mean, and a fit started there
  stays in that collapsed state (KL ≈ 0, every sample at the centre of the embeddings: tested);
  from 0.1 the decoder has to use u, and γ is then learned;
* the embeddings *standardised* first (per-dimension mean and standard deviation, undone when
  sampling): an autoencoder's codes have an arbitrary scale, and a fixed learning rate and the
  N(0, I) latent work best on unit-scale data. γ is then in units of each dimension's standard
  deviation;
* fitted to the embeddings it is given (the encoder's means, as every vaelab sampler), not to fresh
  draws of q(z|x) as the paper;
* 2,000 Adam steps of 256 points drawn at random (learning rate 1e-3, cosine-annealed to 0): far
  fewer steps than the paper's, at a larger rate (docs/families.md gives the time it takes).

The fit always runs on the CPU in float32, in one thread (:data:`THREADS`), seeded by its own fit seed
(the network's initialisation, the minibatches and the ε of the reparameterisation), so a fit does not
depend on the machine's thread count; ``sample(count, seed)`` then draws u from numpy's generator for
``seed``. One thread, because the network is small: its matrix products are too short to share
between threads, and on a busy 2-core machine two threads made the fit several times slower, most of
the extra time spent waiting for each other (docs/families.md gives the measured times).

The fitting loop is this module's own and tiny (:meth:`TwoStageSampler.fit`): vaelab's trainer trains
image models from a run configuration, with checkpoints and validation, none of which a density fit
of a few seconds needs. It reuses the training layer's Adam (:func:`~vaelab.training.optimizer.make_adam`),
the models layer's Gaussian posterior (its reparameterised draw and closed-form KL) and densities, and
vaelab's progress bar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from vaelab.errors import ConfigError, TrainingDivergedError
from vaelab.models.base import GaussianPosterior, clamp_log_var
from vaelab.models.distributions import gaussian_log_density
from vaelab.progress import progress_bar
from vaelab.training.execution import thread_count
from vaelab.training.optimizer import make_adam

#: The fewest embeddings the second VAE is fitted to: below that it can only memorise points.
MIN_EMBEDDINGS = 50
#: Steps at the end of the fit whose mean loss :meth:`TwoStageSampler.describe` reports.
LOSS_WINDOW = 100
#: Steps between the progress bar's updates (and its check that the loss is finite).
REPORT_EVERY = 50
#: The smallest standard deviation a dimension is divided by (a dimension the embeddings never use).
MIN_SCALE = 1e-8
#: PyTorch threads the fit and the sampling run in (the module docstring says why one).
THREADS = 1


@dataclass(frozen=True)
class TwoStageSettings:
    """How the second VAE is built and fitted (see the module docstring for why these defaults).

    Attributes:
        width, depth: the hidden layers of its encoder and decoder alike.
        steps, batch_size, lr: the fit: Adam steps, points per step, initial learning rate
            (cosine-annealed to 0 over the steps).
        gamma_init: the decoder's standard deviation γ at the start (learned from there).
        seed: the fit's seed (initialisation, minibatches, ε).
    """

    width: int = 256
    depth: int = 3
    steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-3
    gamma_init: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("width", "depth", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"the two-stage sampler's {name} must be at least 1, got {getattr(self, name)}")
        if not (self.lr > 0 and self.gamma_init > 0):
            raise ConfigError(
                f"the two-stage sampler's lr and gamma_init must be positive, got {self.lr}, {self.gamma_init}"
            )


#: The settings a sampler made without any (``make_sampler("two-stage")``) fits with.
DEFAULT_SETTINGS = TwoStageSettings()


class _Mlp(nn.Module):
    """``depth`` ReLU layers of ``width`` units, then a linear map of [hidden, input] (the paper's skip
    connection: the input is concatenated to the last hidden layer) to ``outputs`` values."""

    def __init__(self, inputs: int, width: int, depth: int, outputs: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size = inputs
        for _ in range(depth):
            layers += [nn.Linear(size, width), nn.ReLU()]
            size = width
        self.hidden = nn.Sequential(*layers)
        self.out = nn.Linear(size + inputs, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.cat([self.hidden(x), x], dim=-1))


def second_stage_terms(
    x: torch.Tensor, x_hat: torch.Tensor, log_gamma: torch.Tensor, posterior: GaussianPosterior
) -> tuple[torch.Tensor, torch.Tensor]:
    """The second VAE's negative ELBO in two terms, each per point and averaged over the batch, in
    nats: the reconstruction −log N(x; x̂, γ²I) summed over dimensions, and KL(q(u|x) ‖ N(0, I))."""
    log_var = (2.0 * log_gamma).expand_as(x)
    reconstruction = -gaussian_log_density(x, x_hat, log_var).sum(dim=-1).mean()
    return reconstruction, posterior.kl_to_standard_normal().mean()


class SecondStageVae(nn.Module):
    """The second VAE over d-dimensional points x (standardised embeddings): q(u|x) = N(μ(x), diag σ²(x)),
    p(u) = N(0, I) with u of dimension d, p(x|u) = N(x; x̂(u), γ²I) with one learned scalar log γ."""

    def __init__(self, dim: int, width: int, depth: int, gamma_init: float = 1.0) -> None:
        super().__init__()
        self.encoder = _Mlp(dim, width, depth, 2 * dim)
        self.decoder = _Mlp(dim, width, depth, dim)
        self.log_gamma = nn.Parameter(torch.tensor(math.log(gamma_init)))

    def encode(self, x: torch.Tensor) -> GaussianPosterior:
        """q(u|x): the encoder's mean and (clamped) log-variance heads."""
        mean, log_var = self.encoder(x).chunk(2, dim=-1)
        return GaussianPosterior(mean, clamp_log_var(log_var))

    def loss_terms(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`second_stage_terms` of the points ``x``, decoding one draw u of q(u|x) (ε from ``generator``)."""
        posterior = self.encode(x)
        x_hat = self.decoder(posterior.sample(generator))
        return second_stage_terms(x, x_hat, self.log_gamma, posterior)


class TwoStageSampler:
    """Dai & Wipf's two-stage sampler: a second VAE fitted to the embeddings; samples decode u ~ N(0, I)
    through its decoder (see the module docstring for the paper's choices and these defaults).

    Args:
        settings: the second VAE's size and fit (default: :data:`DEFAULT_SETTINGS`).
        progress: show a progress bar on stderr while fitting.
        seed: the fit's seed, in place of the settings' (None keeps theirs).
    """

    name = "two-stage"
    #: Fitted after training to the training set's embeddings (as ``gmm``).
    fits_training_set: ClassVar[bool] = True
    #: Draws points of a continuous latent space.
    continuous_only: ClassVar[bool] = True

    def __init__(
        self, settings: TwoStageSettings | None = None, progress: bool = True, seed: int | None = None
    ) -> None:
        settings = settings if settings is not None else DEFAULT_SETTINGS
        self.settings = settings if seed is None else replace(settings, seed=seed)
        self.progress = progress

    def fit(self, z: np.ndarray) -> TwoStageSampler:
        """Standardise the embeddings ``z`` [n, d] and fit the second VAE to them (a
        :class:`ConfigError` for fewer than :data:`MIN_EMBEDDINGS` points or non-finite ones; a
        :class:`TrainingDivergedError` if the loss stops being finite)."""
        points = check_embeddings(z)
        self.mean = points.mean(axis=0)
        self.scale = np.maximum(points.std(axis=0), MIN_SCALE)
        data = torch.from_numpy((points - self.mean) / self.scale).float()
        with thread_count(THREADS):
            self.network = self._new_network(data.shape[1])
            self.reconstruction, self.kl = self._train(data)
        return self

    def _new_network(self, dim: int) -> SecondStageVae:
        """The second VAE, initialised from the fit's seed without touching PyTorch's global RNG."""
        s = self.settings
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s.seed)
            return SecondStageVae(dim, s.width, s.depth, s.gamma_init)

    def _train(self, data: torch.Tensor) -> tuple[float, float]:
        """Fit the network to ``data``; the mean reconstruction and KL of the last :data:`LOSS_WINDOW` steps."""
        s = self.settings
        generator = torch.Generator().manual_seed(s.seed)
        optimizer = make_adam(self.network.parameters(), s.lr, torch.device("cpu"))
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, s.steps)
        batch = min(s.batch_size, len(data))
        window = min(LOSS_WINDOW, s.steps)
        sums = torch.zeros(2)
        self.network.train()
        bar = progress_bar(total=s.steps, desc="two-stage fit", unit="step", enabled=self.progress, leave=False)
        with bar:
            for step in range(s.steps):
                x = data[torch.randint(len(data), (batch,), generator=generator)]
                reconstruction, kl = self.network.loss_terms(x, generator)
                loss = reconstruction + kl
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                if step >= s.steps - window:
                    sums += torch.stack([reconstruction.detach(), kl.detach()])
                if (step + 1) % REPORT_EVERY == 0 or step + 1 == s.steps:
                    _check_finite(loss.item(), step + 1)
                    bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
                    bar.update(step + 1 - bar.n)
        self.network.eval()
        reconstruction_mean, kl_mean = (float(v) / window for v in sums)
        return reconstruction_mean, kl_mean

    @torch.inference_mode()
    def sample(self, count: int, seed: int = 0) -> np.ndarray:
        """``count`` points: u ~ N(0, I) from numpy's generator for ``seed``, decoded to the mean
        x̂(u) (no γ noise, as the paper) and un-standardised: [count, d] float32."""
        u = np.random.default_rng(seed).standard_normal((count, len(self.mean))).astype(np.float32)
        with thread_count(THREADS):
            x_hat = self.network.decoder(torch.from_numpy(u)).double().numpy()
        return (x_hat * self.scale + self.mean).astype(np.float32)

    def describe(self) -> dict[str, Any]:
        """The settings, the standardisation, the learned γ and the final loss: the mean, over the
        last :data:`LOSS_WINDOW` steps, of the negative ELBO per point in nats of the standardised
        embeddings (``final_loss``; ``final_neg_elbo_nats`` adds Σ log std_d, the nats of z itself)."""
        s = self.settings
        loss = self.reconstruction + self.kl
        return {
            "sampler": self.name,
            "fit_seed": s.seed,
            "hidden_layers": [s.width] * s.depth,
            "steps": s.steps,
            "batch_size": s.batch_size,
            "lr": s.lr,
            "gamma_init": s.gamma_init,
            "latent_dim": len(self.mean),
            "decoder_variance": "learned scalar gamma^2",
            "standardise_mean": self.mean.tolist(),
            "standardise_std": self.scale.tolist(),
            "gamma": math.exp(self.network.log_gamma.item()),
            "final_loss": loss,
            "final_reconstruction_nats": self.reconstruction,
            "final_kl_nats": self.kl,
            "final_neg_elbo_nats": loss + float(np.log(self.scale).sum()),
        }


def check_two_stage_size(count: int) -> None:
    """A :class:`ConfigError` when ``count`` embeddings are too few to fit the second VAE."""
    if count < MIN_EMBEDDINGS:
        raise ConfigError(
            f"the two-stage sampler's second VAE needs at least {MIN_EMBEDDINGS} training embeddings, "
            f"got {count}; use --limit-train {MIN_EMBEDDINGS} or more"
        )


def check_embeddings(z: np.ndarray) -> np.ndarray:
    """``z`` as float64 [n, d]; a :class:`ConfigError` for another shape, too few points
    (:func:`check_two_stage_size`) or a non-finite value."""
    points = np.asarray(z, np.float64)
    if points.ndim != 2 or points.shape[1] < 1:
        raise ConfigError(f"the two-stage sampler fits points of shape [n, d], got {list(points.shape)}")
    check_two_stage_size(len(points))
    if not np.isfinite(points).all():
        raise ConfigError("the two-stage sampler got non-finite embeddings (NaN or infinity); check the run's weights")
    return points


def _check_finite(loss: float, step: int) -> None:
    """A :class:`TrainingDivergedError` when the fit's loss is no longer finite."""
    if not math.isfinite(loss):
        raise TrainingDivergedError(
            f"the two-stage sampler's second VAE diverged (loss {loss} at step {step}); try --sampler gmm"
        )
