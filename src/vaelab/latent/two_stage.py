"""The ``two-stage`` sampler (Dai & Wipf, 2019): a second, small VAE fitted to the training embeddings.

A first-stage model (any vaelab family with continuous codes) leaves its training embeddings z in a
region whose shape its prior (or, for an autoencoder, nothing) does not describe: the *aggregate*
posterior q(z) is not N(0, I), so decoding prior draws lands in holes. Dai & Wipf ("Diagnosing and
enhancing VAE models", ICLR 2019) fit a second VAE to the embeddings, with its own latent u of the
same size as z, and sample by

    u ~ N(0, I)  →  second decoder  →  z  →  the model's decoder.

The second VAE is a density model of points in R^d, which a small MLP learns in seconds where the
first stage needed convolutions and minutes.

**The paper's choices** (its code, ``daib13/TwoStageVAE``): encoder and decoder each 3 fully connected
ReLU layers of 1,024 units, with the input concatenated to the last hidden layer (a skip connection)
before the output heads; u of the same dimension κ as z; a Gaussian decoder N(z; ẑ(u), γ²I) with one
*learned scalar* γ (initialised at 1), which the paper shows must be learned (γ → 0 at the optimum,
where the second VAE recovers q(z)); Adam, learning rate 1e-4 halved every 150 epochs, 800 epochs at
batch 64 over sampled z ~ q(z|x); samples decode the mean ẑ(u), without the γ noise.

**vaelab's defaults** (:class:`TwoStageSampler`), chosen to fit in seconds on a CPU:

* the same architecture at 3 × 256 units (z has 2 to a few hundred dimensions here, not the paper's
  64 from 64×64 CelebA; 256 units already fit a 2-D density of ten classes closely), skip connection
  included; u of z's dimension;
* the learned scalar γ, as the paper (the variance's optimum is the point of the method; a per-dim
  variance would let each dimension settle its own noise level, which the paper argues against);
* the embeddings *standardised* first (per-dimension mean and standard deviation, undone when
  sampling): an autoencoder's codes have an arbitrary scale (book-ae's span tens of units), and a
  fixed learning rate and the N(0, I) latent work best on unit-scale data. γ is then in units of
  each dimension's standard deviation;
* fitted to the embeddings it is given (the encoder's means, as every vaelab sampler), not to fresh
  draws of q(z|x) as the paper;
* 2,000 Adam steps of 256 points drawn at random (learning rate 1e-3, cosine-annealed to 0): far
  fewer steps than the paper's, at a larger rate; the loss has levelled off by then on Fashion-MNIST's
  2-D and 16-D embeddings (docs/families.md gives the times and numbers).

The fit always runs on the CPU in float32, seeded (the network's initialisation, the minibatches and
the ε of the reparameterisation all come from ``seed``), so a fit is the same on any machine with the
same thread count; ``sample(count, seed)`` then draws u from numpy's generator for ``seed``.

The fitting loop is this module's own and tiny (:meth:`TwoStageSampler.fit`): vaelab's trainer trains
image models from a run configuration, with checkpoints and validation, none of which a density fit
of a few seconds needs. It reuses the training layer's Adam (:func:`~vaelab.training.optimizer.make_adam`),
the models layer's Gaussian posterior (its reparameterised draw and closed-form KL) and densities, and
vaelab's progress bar.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from vaelab.errors import ConfigError, TrainingDivergedError
from vaelab.models.base import GaussianPosterior, clamp_log_var
from vaelab.models.distributions import gaussian_log_density
from vaelab.progress import progress_bar
from vaelab.training.optimizer import make_adam

#: The fewest embeddings the second VAE is fitted to: below that it can only memorise points.
MIN_EMBEDDINGS = 50
#: Steps at the end of the fit whose mean loss :meth:`TwoStageSampler.describe` reports.
LOSS_WINDOW = 100
#: Steps between the progress bar's updates (and its loss read-out).
REPORT_EVERY = 50


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


class SecondStageVae(nn.Module):
    """The second VAE over d-dimensional points x (standardised embeddings): q(u|x) = N(μ(x), diag σ²(x)),
    p(u) = N(0, I) with u of dimension d, p(x|u) = N(x; x̂(u), γ²I) with one learned scalar log γ."""

    def __init__(self, dim: int, width: int, depth: int) -> None:
        super().__init__()
        self.encoder = _Mlp(dim, width, depth, 2 * dim)
        self.decoder = _Mlp(dim, width, depth, dim)
        self.log_gamma = nn.Parameter(torch.zeros(()))

    def encode(self, x: torch.Tensor) -> GaussianPosterior:
        mean, log_var = self.encoder(x).chunk(2, dim=-1)
        return GaussianPosterior(mean, clamp_log_var(log_var))

    def loss_terms(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The negative ELBO's two terms per point, averaged over the batch, in nats: the reconstruction
        −log N(x; x̂(u), γ²I) (summed over dimensions, u one reparameterised draw of q(u|x)) and
        KL(q(u|x) ‖ N(0, I))."""
        posterior = self.encode(x)
        x_hat = self.decoder(posterior.sample(generator))
        log_var = (2.0 * self.log_gamma).expand_as(x)
        reconstruction = -gaussian_log_density(x, x_hat, log_var).sum(dim=-1).mean()
        return reconstruction, posterior.kl_to_standard_normal().mean()


class TwoStageSampler:
    """Dai & Wipf's two-stage sampler: a second VAE fitted to the embeddings; samples decode u ~ N(0, I)
    through its decoder (see the module docstring for the paper's choices and these defaults).

    Args:
        width, depth: the second VAE's hidden layers (encoder and decoder alike).
        steps, batch_size, lr: the fit: Adam steps, points per step, initial learning rate
            (cosine-annealed to 0 over the steps).
        seed: the fit's seed (initialisation, minibatches, ε).
        progress: show a progress bar on stderr while fitting.
    """

    name = "two-stage"

    def __init__(
        self,
        width: int = 256,
        depth: int = 3,
        steps: int = 2000,
        batch_size: int = 256,
        lr: float = 1e-3,
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        self.width, self.depth = width, depth
        self.steps, self.batch_size, self.lr = steps, batch_size, lr
        self.seed = seed
        self.progress = progress

    def fit(self, z: np.ndarray) -> TwoStageSampler:
        """Standardise ``z`` [n, d] and fit the second VAE to it (a :class:`ConfigError` for fewer
        than :data:`MIN_EMBEDDINGS` points or non-finite ones; a :class:`TrainingDivergedError` if
        the loss stops being finite)."""
        check_two_stage_size(len(z))
        points = np.asarray(z, np.float64)
        if not np.isfinite(points).all():
            raise ConfigError("the two-stage sampler got non-finite embeddings; check the run's weights")
        self.mean = points.mean(axis=0)
        self.scale = np.maximum(points.std(axis=0), 1e-8)
        data = torch.from_numpy((points - self.mean) / self.scale).float()
        dim = data.shape[1]
        with torch.random.fork_rng(devices=[]):  # the initialisation, without touching the global RNG
            torch.manual_seed(self.seed)
            self.network = SecondStageVae(dim, self.width, self.depth)
        generator = torch.Generator().manual_seed(self.seed)
        optimizer = make_adam(self.network.parameters(), self.lr, torch.device("cpu"))
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, self.steps)
        batch = min(self.batch_size, len(data))
        window = min(LOSS_WINDOW, self.steps)
        sums = torch.zeros(2)
        self.network.train()
        bar = progress_bar(total=self.steps, desc="two-stage fit", unit="step", enabled=self.progress, leave=False)
        with bar:
            for step in range(self.steps):
                x = data[torch.randint(len(data), (batch,), generator=generator)]
                reconstruction, kl = self.network.loss_terms(x, generator)
                loss = reconstruction + kl
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                if step >= self.steps - window:
                    sums += torch.stack([reconstruction.detach(), kl.detach()])
                if (step + 1) % REPORT_EVERY == 0 or step + 1 == self.steps:
                    value = loss.item()
                    if not math.isfinite(value):
                        raise TrainingDivergedError(
                            f"the two-stage sampler's second VAE diverged (loss {value} at step {step + 1}); "
                            "try another sampler (gmm)"
                        )
                    bar.set_postfix(loss=f"{value:.3f}", refresh=False)
                    bar.update(step + 1 - bar.n)
        self.network.eval()
        self.reconstruction, self.kl = (float(v) / window for v in sums)
        return self

    @torch.inference_mode()
    def sample(self, count: int, seed: int = 0) -> np.ndarray:
        """``count`` points: u ~ N(0, I) from numpy's generator for ``seed``, decoded to the mean
        x̂(u) (no γ noise, as the paper) and un-standardised: [count, d] float32."""
        u = np.random.default_rng(seed).standard_normal((count, len(self.mean))).astype(np.float32)
        x_hat = self.network.decoder(torch.from_numpy(u)).double().numpy()
        return (x_hat * self.scale + self.mean).astype(np.float32)

    def describe(self) -> dict[str, Any]:
        """The settings, the standardisation, the learned γ and the final loss: the mean, over the
        last :data:`LOSS_WINDOW` steps, of the negative ELBO per point in nats of the standardised
        embeddings (``final_loss``; ``final_neg_elbo_nats`` adds Σ log std_d, the nats of z itself)."""
        loss = self.reconstruction + self.kl
        return {
            "sampler": self.name,
            "fit_seed": self.seed,
            "hidden_layers": [self.width] * self.depth,
            "latent_dim": len(self.mean),
            "decoder_variance": "learned scalar gamma^2",
            "steps": self.steps,
            "batch_size": self.batch_size,
            "lr": self.lr,
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
