"""MySQL/MariaDB credentials and TLS, from wherever the user keeps them -- never from a process
argument unless they put it there.

Password, first found: the URL; $XFER_SOURCE_PASSWORD / $XFER_TARGET_PASSWORD (by the URL's
role); $MYSQL_PWD (what the mysql client reads); the `[client]` section of the option file
($MYSQL_CONFIG_FILE, else ~/.my.cnf), which may also give the user.

TLS: the URL's query `ssl_ca`, `ssl_cert`, `ssl_key`, `ssl_verify_cert`, `ssl_verify_identity`
(pymysql's own names), e.g. `mysql://app@db:3306/shop?ssl_ca=/etc/ca.pem&ssl_verify_cert=true`.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path
from typing import Any

from xfer.core.errors import UsageError
from xfer.core.urls import Url

TLS_FILES = ("ssl_ca", "ssl_cert", "ssl_key")
TLS_FLAGS = ("ssl_verify_cert", "ssl_verify_identity", "ssl_disabled")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def option_file() -> dict[str, str]:
    """The `[client]` section of the MySQL option file, if there is one."""
    path = Path(os.environ.get("MYSQL_CONFIG_FILE") or Path.home() / ".my.cnf")
    if not path.is_file():
        return {}
    cp = configparser.ConfigParser(allow_no_value=True, strict=False, interpolation=None)
    try:
        cp.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return {}
    if not cp.has_section("client"):
        return {}
    # option files allow quotes around values and '-' for '_' in names
    return {k.replace("-", "_"): (v or "").strip().strip("'\"") for k, v in cp.items("client")}


def credentials(url: Url) -> tuple[str, str]:
    """(user, password) for `url`."""
    cnf: dict[str, str] | None = None
    user = url.username
    if not user:
        cnf = option_file()
        user = cnf.get("user") or "root"
    password = url.secret or os.environ.get("MYSQL_PWD")
    if password is None:
        cnf = option_file() if cnf is None else cnf
        # the file's password belongs to the file's user (or to anyone when it names none)
        if cnf.get("user") in (None, "", user):
            password = cnf.get("password")
    return user, password or ""


def tls_options(url: Url) -> dict[str, Any]:
    """pymysql keyword arguments for the URL's TLS settings."""
    out: dict[str, Any] = {}
    for k in TLS_FILES:
        if k in url.query:
            if not Path(url.query[k]).expanduser().is_file():
                raise UsageError(f"{url.role} URL: {k}: no such file: {url.query[k]}")
            out[k] = str(Path(url.query[k]).expanduser())
    for k in TLS_FLAGS:
        if k in url.query:
            v = url.query[k].strip().lower()
            if v not in _TRUE | _FALSE:
                raise UsageError(f"{url.role} URL: {k}={url.query[k]!r} must be true or false")
            out[k] = v in _TRUE
    return out
