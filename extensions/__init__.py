"""Python behind the copier-onex templates.

Copier renders Jinja; everything that decides something lives here, as small
pure functions that the suite's tests call directly:

- `naming`: names derived from answers (package, distribution, class names).
- `catalog`: the catalog of archetypal nodes, declared once.
- `answers`: validation of answers, and the values Copier settings derive from them.
- `jinja`: the one Jinja extension that hands the functions above to the templates.
"""
