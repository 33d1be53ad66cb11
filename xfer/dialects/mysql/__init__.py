"""MySQL / MariaDB: the dialect (`dialect`), its native Arrow reader (`fast`, connectorx) and
connection settings (`auth`: credentials, TLS)."""

from xfer.dialects.mysql.dialect import MySQL

__all__ = ["MySQL"]
