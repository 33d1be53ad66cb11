"""The neutral core every stage builds on: the schema model, errors, options, URLs, naming,
type rules, canonical values, value policies, batch conversion, checksums, retry, progress and
the report model. Nothing here knows an engine."""

__version__ = "0.1.0"
