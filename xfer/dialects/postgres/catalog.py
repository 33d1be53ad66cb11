"""PostgreSQL catalogue snapshots and the DDL that undoes a run (`xfer rollback`).

A journaled run records what each of its DDL steps created inside the step's own REPEATABLE
READ transaction: the objects whose OID is above the catalogue's highest OID read before the
step (every object the snapshot sees that is newer is the step's: other sessions' later commits
are not in it), or, for a step that may drop objects, the difference between the whole
catalogue before and after it. Objects are recorded with their OID, so a rollback never drops a
same-named object that someone (or a later run) created after them.

A mixin of the `Postgres` dialect; its `JournalStore` (`xfer.dialects.postgres.journal`) builds on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from xfer.core.journal import JOURNAL_SCHEMA, CatalogObject

# Schemas whose contents are never a run's doing (and the journal's own schema, which the
# journal tracks itself).
_OWN_SCHEMAS = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema', %(journal)s) "
    "AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp\\_%%'"
)

CATALOG_SQL = f"""
SELECT 'schema', n.nspname, n.nspname, '', n.oid::bigint FROM pg_namespace n
 WHERE n.oid > %(above)s::oid AND {_OWN_SCHEMAS}
UNION ALL
SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
         WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table'
         ELSE 'index' END,
       n.nspname, c.relname,
       -- the table an index or an owned sequence belongs to (they go with it)
       COALESCE((SELECT t.relname FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid WHERE x.indexrelid = c.oid),
                (SELECT t.relname FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')
                    AND d.refclassid = 'pg_class'::regclass AND c.relkind = 'S' LIMIT 1), ''),
       c.oid::bigint
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid > %(above)s::oid AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'i', 'I') AND {_OWN_SCHEMAS}
UNION ALL
SELECT 'type', n.nspname, t.typname, '', t.oid::bigint
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
  LEFT JOIN pg_class r ON r.oid = t.typrelid
 WHERE t.oid > %(above)s::oid AND (t.typrelid = 0 OR r.relkind = 'c')
   AND NOT (t.typcategory = 'A' AND t.typelem <> 0) AND {_OWN_SCHEMAS}
UNION ALL
SELECT 'collation', n.nspname, co.collname, '', co.oid::bigint
  FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace
 WHERE co.oid > %(above)s::oid AND {_OWN_SCHEMAS}
UNION ALL
SELECT 'function', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), p.oid::bigint
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.oid > %(above)s::oid AND {_OWN_SCHEMAS}
UNION ALL
SELECT 'trigger', n.nspname, tg.tgname, c.relname, tg.oid::bigint
  FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE tg.oid > %(above)s::oid AND NOT tg.tgisinternal AND {_OWN_SCHEMAS}
UNION ALL
SELECT 'constraint', n.nspname, co.conname, c.relname, co.oid::bigint
  FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE co.oid > %(above)s::oid AND {_OWN_SCHEMAS}
"""

# The highest OID of the catalogues above, each read off its OID index (a few page reads,
# however many objects there are). An object created after it was read gets a higher OID
# (the counter only grows, until it wraps around at 2^32: see `PostgresJournal`).
WATERMARK_SQL = """
SELECT GREATEST((SELECT max(oid) FROM pg_namespace), (SELECT max(oid) FROM pg_class),
                (SELECT max(oid) FROM pg_type), (SELECT max(oid) FROM pg_proc),
                (SELECT max(oid) FROM pg_trigger), (SELECT max(oid) FROM pg_constraint),
                (SELECT max(oid) FROM pg_collation))::bigint
"""

# The order a rollback drops things in: dependents before what they depend on.
DROP_ORDER = (
    "view",
    "materialized view",
    "trigger",
    "constraint",
    "table",
    "foreign table",
    "index",
    "sequence",
    "function",
    "type",
    "collation",
    "schema",
)


class PostgresCatalog:
    """Catalogue methods of the PostgreSQL dialect (needs `quote`)."""

    quote: Any

    def catalog_objects(self, cur: Any, above: int = 0) -> set[CatalogObject]:
        """Every user object of the database (outside the journal's schema), read on `cur`;
        with `above`, only those whose OID is higher (found through the OID indexes)."""
        cur.execute(CATALOG_SQL, {"journal": JOURNAL_SCHEMA, "above": above})
        return {CatalogObject(*row) for row in cur.fetchall()}

    def catalog_watermark(self, cur: Any) -> int:
        """The highest OID among the objects `catalog_objects` reads (see WATERMARK_SQL)."""
        cur.execute(WATERMARK_SQL)
        return int(cur.fetchone()[0])

    def drop_objects_sql(self, objects: Iterable[CatalogObject]) -> list[str]:
        """Statements dropping `objects` (and nothing else: no CASCADE), dependents first.
        Triggers, constraints and indexes of tables dropped here go with their table."""
        objs = sorted(set(objects), key=lambda o: (DROP_ORDER.index(o.kind), o.schema, o.name))
        tables = {(o.schema, o.name) for o in objs if o.kind in ("table", "foreign table")}
        out: list[str] = []
        q = self.quote

        def names(kind: str) -> str:
            return ", ".join(f"{q(o.schema)}.{q(o.name)}" for o in objs if o.kind == kind)

        for kind, sql in (
            ("view", "DROP VIEW IF EXISTS {}"),
            ("materialized view", "DROP MATERIALIZED VIEW IF EXISTS {}"),
        ):
            if names(kind):
                out.append(sql.format(names(kind)))
        for o in objs:
            if o.kind == "trigger" and not o.part_of(tables):
                out.append(f"DROP TRIGGER IF EXISTS {q(o.name)} ON {q(o.schema)}.{q(o.ident)}")
        # foreign keys first: a primary key may be what one of them references
        for o in sorted((o for o in objs if o.kind == "constraint"), key=lambda o: o.name):
            if not o.part_of(tables):
                out.append(f"ALTER TABLE {q(o.schema)}.{q(o.ident)} DROP CONSTRAINT IF EXISTS {q(o.name)}")
        if names("table"):
            out.append(f"DROP TABLE IF EXISTS {names('table')}")  # one statement: FKs between them are fine
        if names("foreign table"):
            out.append(f"DROP FOREIGN TABLE IF EXISTS {names('foreign table')}")
        for kind, sql in (("index", "DROP INDEX IF EXISTS {}"), ("sequence", "DROP SEQUENCE IF EXISTS {}")):
            rest = ", ".join(f"{q(o.schema)}.{q(o.name)}" for o in objs if o.kind == kind and not o.part_of(tables))
            if rest:
                out.append(sql.format(rest))
        for o in objs:
            if o.kind == "function":
                out.append(f"DROP FUNCTION IF EXISTS {q(o.schema)}.{q(o.name)}({o.ident})")
        if names("type"):
            out.append(f"DROP TYPE IF EXISTS {names('type')}")
        if names("collation"):  # only those the run created: its journal recorded them
            out.append(f"DROP COLLATION IF EXISTS {names('collation')}")
        for o in objs:
            if o.kind == "schema":
                out.append(f"DROP SCHEMA IF EXISTS {q(o.name)}")
        return out
