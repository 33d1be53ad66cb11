"""PostgreSQL: the dialect (`dialect`), its DDL (`ddl`) and catalogue (`catalog`), the binary
COPY writer (`binary`, pgpq), the ADBC reader (`adbc`) and the run journal store (`journal`)."""

from xfer.dialects.postgres.dialect import Postgres

__all__ = ["Postgres"]
