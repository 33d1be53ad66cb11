"""`python -m xfer.mapping`: print the mapping files' JSON Schema (for editors)."""

import json

from xfer.mapping.loader import schema

print(json.dumps(schema(), indent=2))
