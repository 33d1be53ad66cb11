"""xfer: move whole databases between engines through Arrow, and prove nothing was lost."""

from xfer.core import __version__ as __version__
