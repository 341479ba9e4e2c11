"""An encoder and a decoder composed into one module."""

from torch import nn

__all__ = ["EncoderDecoder"]


class EncoderDecoder(nn.Module):
    """``x -> decoder(encoder(x))``; both parts stay reachable by name."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x):
        return self.decoder(self.encoder(x))
