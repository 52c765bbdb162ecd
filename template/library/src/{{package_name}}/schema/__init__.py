"""Versioned schema files, applied in order at start by the database node.

`sqlite/0001_core.sql` creates the tables the catalog's nodes write through
intents. A new version is a new file with the next number; applied versions
are recorded in `onex_schema_migrations`, so applying is idempotent.
"""
