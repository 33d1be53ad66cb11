"""How results are shown: a run's report as a terminal table (`text`) or a document (`formats`:
JSON, Markdown, HTML), a plan as text (`plan_text`), an inspection as text or JSON
(`inspect_text`). The report model itself is `xfer.core.report`."""
