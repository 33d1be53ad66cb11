"""Mapping files: one YAML file describing a whole migration (see the README, "Mapping files").

    load_mapping(path) -> Mapping      read and check the file itself (raises MappingError, exit 2)
    Options(mapping=...)               plan, migrate and verify then follow it (xfer.mapping.plan)

The JSON Schema the loader validates against ships as xfer/mapping/schema.json
(`python -m xfer.mapping` prints it, for editors).
"""

from __future__ import annotations

from xfer.mapping.loader import load_mapping, parse_mapping, schema
from xfer.mapping.model import Mapping
from xfer.mapping.problems import MappingError

__all__ = ["Mapping", "MappingError", "load_mapping", "parse_mapping", "schema"]
