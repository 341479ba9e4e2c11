"""An encoder and a decoder composed into one module, and its reconstruction error."""

from torch import nn

__all__ = ["EncoderDecoder", "reconstruction_error"]


def reconstruction_error(x_hat, x):
    """Per-sample mean squared error: an autoencoder's loss and anomaly score."""
    return ((x_hat - x) ** 2).flatten(1).mean(dim=1)


class EncoderDecoder(nn.Module):
    """``x -> decoder(encoder(x))``; both parts stay reachable by name."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x):
        return self.decoder(self.encoder(x))
