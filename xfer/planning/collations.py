"""Collations: each text column of the source compares and sorts as its collation says
(`utf8mb4_general_ci`: 'A' = 'a' = 'á'); the target column gets the collation the rules file
maps it to (`collations:` in `mappings/mysql-to-postgres.yaml`), or one a mapping file names
(`collation:` on a column). `--collations binary` keeps the target's byte-wise default and the
plan says, per column, what comparisons change.

The collations a plan uses are created once per target schema before the tables; a target that
cannot create them (PostgreSQL without ICU) gets byte-wise columns, and the plan says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xfer.core.options import Options
from xfer.core.schema import Column
from xfer.core.typemap import CollationDef, TypeMap
from xfer.dialects.base import Dialect, split_type
from xfer.dialects.capabilities import CollationTarget

TEXT_TYPES = ("char", "character", "varchar", "character varying", "text")


@dataclass
class Collations:
    """The run's collation choices: what is available, and the definitions the columns use."""

    keep: bool
    types: TypeMap | None
    unavailable: str | None = None  # why the target cannot have them (then: byte-wise)
    used: dict[str, CollationDef] = field(default_factory=dict)

    @classmethod
    def for_run(cls, target: Dialect, types: TypeMap | None, options: Options) -> Collations:
        keep = options.policies.collations == "keep" and isinstance(target, CollationTarget)
        why = target.collations_available() if keep and isinstance(target, CollationTarget) else None
        return cls(keep and why is None, types, why)

    def decide(self, c: Column, tc: Column, target: Dialect, why: list[str]) -> None:
        """Set `tc.meta["collation_ref"]` (and say so in `why`) for a text column with a source
        collation; record what the comparison becomes in `tc.meta["collation_kept"]`:
        the target collation's name, or None when the column compares byte-wise."""
        source = c.meta.get("collation")
        override = c.meta.get("collation_override")
        if not isinstance(target, CollationTarget) or split_type(tc.native_type.lower())[0] not in TEXT_TYPES:
            return
        if not source and not override:
            return
        wanted = override or (self.types.collation_for(source) if self.types and source else None) or "C"
        defs = self.types.collation_defs if self.types else {}
        if not self.keep and not override:
            tc.meta["collation_kept"] = None
            if wanted != "C":
                reason = self.unavailable or "--collations binary"
                why.append(f"collation {source} not kept ({reason}): compares byte-wise here")
            return
        if wanted in defs:
            if self.unavailable:
                tc.meta["collation_kept"] = None
                why.append(f"collation {source} not kept ({self.unavailable}): compares byte-wise here")
                return
            self.used[wanted] = defs[wanted]
            d = defs[wanted]
            how = "deterministic" if d.deterministic else "non-deterministic"
            why.append(f"collation {source or 'default'} -> {wanted} (ICU {d.locale}, {how})")
        elif override:
            why.append(f"collation {source or 'default'} -> {wanted} (the mapping file's)")
        elif source and source.lower() != "binary":
            why.append(f'collation {source} -> "C" (byte-wise, as the source)')
        tc.meta["collation_ref"] = target.collation_ref(wanted, wanted in defs)
        tc.meta["collation_kept"] = wanted
        tc.meta["collation_deterministic"] = defs[wanted].deterministic if wanted in defs else True
        rule = self.types.collation_rule(source) if self.types and source and not override else None
        if rule is not None and rule.note:
            tc.meta["collation_note"] = rule.note

    def definitions(self) -> list[CollationDef]:
        return [self.used[n] for n in sorted(self.used)]
