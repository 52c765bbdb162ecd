"""The library's 23 quality gates: `python -m quality` (or `nox -s gates`) runs them.

`gates.yaml` specifies each gate; `gates/` holds their checks; `runner` runs them
in parallel and `report` writes the table, `build/gates/report.json` and a JUnit file.
"""
