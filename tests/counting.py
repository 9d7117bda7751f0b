"""A wrapper around a real encoder that counts the photos it embeds (for "re-embeds nothing" tests)."""


class CountingEncoder:
    """The real tiny encoder, counting the photos it embeds."""

    def __init__(self, encoder):
        self._encoder = encoder
        self.embedded = 0

    def __getattr__(self, name):
        return getattr(self._encoder, name)

    def encode_images(self, batch):
        self.embedded += len(batch)
        return self._encoder.encode_images(batch)

    def encode_images_and_grids(self, batch):  # what the indexer calls
        self.embedded += len(batch)
        return self._encoder.encode_images_and_grids(batch)
