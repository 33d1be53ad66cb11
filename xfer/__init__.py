"""xfer: move whole databases between engines through Arrow, and prove nothing was lost."""

__version__ = "0.1.0"
