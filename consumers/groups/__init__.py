"""One module per consumer group; each exposes ``GROUP``, a ``ConsumerGroup``."""
