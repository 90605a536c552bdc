"""vaelab: autoencoders and variational autoencoders on images, after *Generative Deep Learning* ch. 3."""

__version__ = "0.1.0"
