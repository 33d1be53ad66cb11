"""TLS settings in the URL reach the drivers: PostgreSQL's sslmode/sslrootcert (libpq), MySQL's
ssl_ca/ssl_cert/ssl_key/ssl_verify_cert (pymysql)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import RunCli

from xfer.core.errors import UsageError
from xfer.core.urls import parse
from xfer.dialects.mysql.auth import tls_options


def test_mysql_tls_options_from_the_url(tmp_path: Path) -> None:
    for name in ("ca.pem", "c.pem", "k.pem"):
        (tmp_path / name).write_text("-")
    url = parse(
        f"mysql://u@db:3306/shop?ssl_ca={tmp_path}/ca.pem&ssl_cert={tmp_path}/c.pem&ssl_key={tmp_path}/k.pem"
        "&ssl_verify_cert=true"
    )
    assert tls_options(url) == {
        "ssl_ca": f"{tmp_path}/ca.pem",
        "ssl_cert": f"{tmp_path}/c.pem",
        "ssl_key": f"{tmp_path}/k.pem",
        "ssl_verify_cert": True,
    }
    with pytest.raises(UsageError, match="ssl_ca: no such file"):
        tls_options(parse("mysql://u@db/shop?ssl_ca=/nonexistent/ca.pem", role="source"))
    with pytest.raises(UsageError, match="ssl_verify_cert"):
        tls_options(parse("mysql://u@db/shop?ssl_verify_cert=perhaps", role="source"))


def test_pg_sslmode_reaches_libpq(pg_url: str, pg_conn: object, run_cli: RunCli, tmp_path: Path) -> None:
    ssl = pg_conn.execute("SHOW ssl").fetchone()[0] == "on"  # type: ignore[attr-defined]
    assert run_cli("inspect", f"{pg_url}?sslmode=disable").exit_code == 0
    if ssl:  # verify-full with a root certificate that does not exist: libpq says so
        missing = tmp_path / "no-such-root.crt"
        result = run_cli("inspect", f"{pg_url}?sslmode=verify-full&sslrootcert={missing}")
        assert result.exit_code == 1 and "root certificate" in result.output
    else:  # a server without TLS and sslmode=require: libpq refuses
        result = run_cli("inspect", f"{pg_url}?sslmode=require")
        assert result.exit_code == 1 and "SSL was required" in result.output


def test_mysql_ssl_ca_reaches_the_driver(mysql_url: str, run_cli: RunCli, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    result = run_cli("inspect", f"{mysql_url}?ssl_ca={missing}")
    assert result.exit_code == 2
    assert f"ssl_ca: no such file: {missing}" in result.output
