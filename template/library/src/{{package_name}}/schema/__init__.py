"""Versioned schema files, applied in order at start by the database node.

Each backend has its folder, `sqlite/` and `postgres/`, with the same versions
under the same names: `0001_core.sql` creates the tables the catalog's nodes
write through intents; `0002_records.sql` the record store of features
(`onex_records`: JSON documents keyed by collection and key);
`0003_processed_envelopes.sql` records who handled an envelope;
`0004_reducer_versions.sql` gives the metrics and session tables a `version`
column for conditional writes. A new version is a new file
`<version>_<name>.sql` with the next number, in both folders; applied versions
are recorded in `onex_schema_migrations`, so applying is idempotent, and a
database made by an older library gets the files it lacks, in order, at its
next start: a file that changes a table must keep its rows (a new column
NOT NULL needs a default).

`schema_files()` lists a dialect's files in order; `table_columns()` describes
the tables they create, read from a throwaway in-memory SQLite database.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from importlib import resources
from importlib.resources.abc import Traversable

from pydantic import BaseModel, ConfigDict, Field

from ..core.errors import EnumCoreErrorCode, OnexError

_SCHEMA_FILE = re.compile(r"(?P<version>\d+)_\w+\.sql")


class ModelSchemaFile(BaseModel):
    """One versioned schema file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=0, description="The number the file name starts with; files apply in its order.")
    name: str = Field(min_length=1, description="The file name, e.g. `0001_core.sql`.")
    sql: str = Field(description="The file's SQL script.")


class ModelColumn(BaseModel):
    """One column of a table, as `pragma_table_info` reports it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="The column name.")
    sql_type: str = Field(description="The declared type, e.g. `TEXT` or `INTEGER` (empty when undeclared).")
    not_null: bool = Field(description="Whether the column refuses NULL.")
    primary_key_position: int = Field(
        ge=0, description="1-based position in the primary key; 0 when the column is not part of it."
    )


def schema_files(dialect: str = "sqlite", *, root: Traversable | None = None) -> tuple[ModelSchemaFile, ...]:
    """The schema files of `<root>/<dialect>/`, ordered by version; none when the folder does not exist.

    Args:
        dialect: The folder of files written for one database (`sqlite`, `postgres`).
        root: The folder holding the dialect folders; by default this package.

    Raises:
        OnexError: CONFIGURATION_ERROR for a `.sql` file not named
            `<version>_<name>.sql`, or for two files with one version.
    """
    folder = (root or resources.files(__name__)) / dialect
    if not folder.is_dir():
        return ()
    files: list[ModelSchemaFile] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _SCHEMA_FILE.fullmatch(entry.name)
        if match is None:
            raise OnexError(
                f"schema file {entry.name!r} is not named <version>_<name>.sql",
                code=EnumCoreErrorCode.CONFIGURATION_ERROR,
                details={"dialect": dialect, "file": entry.name},
            )
        files.append(ModelSchemaFile(version=int(match["version"]), name=entry.name, sql=entry.read_text("utf-8")))
    files.sort(key=lambda file: (file.version, file.name))
    versions = [file.version for file in files]
    if len(set(versions)) != len(versions):
        raise OnexError(
            f"schema/{dialect} has two files with one version",
            code=EnumCoreErrorCode.CONFIGURATION_ERROR,
            details={"dialect": dialect, "files": [file.name for file in files]},
        )
    return tuple(files)


def table_columns(dialect: str = "sqlite", *, root: Traversable | None = None) -> dict[str, tuple[ModelColumn, ...]]:
    """The tables the schema files of `dialect` create, each with its columns in declaration order.

    The files run, in order, in a private in-memory SQLite database (so they
    must be SQL that SQLite understands); nothing is written anywhere.

    Args:
        dialect: The folder of files to run (`sqlite`).
        root: The folder holding the dialect folders; by default this package.

    Raises:
        OnexError: CONFIGURATION_ERROR for a misnamed file, a repeated
            version, or a file SQLite cannot run.
    """
    with closing(sqlite3.connect(":memory:")) as connection:
        for file in schema_files(dialect, root=root):
            try:
                connection.executescript(file.sql)
            except sqlite3.Error as exc:
                raise OnexError(
                    f"schema file {file.name!r} does not run: {exc}",
                    code=EnumCoreErrorCode.CONFIGURATION_ERROR,
                    details={"dialect": dialect, "file": file.name},
                ) from exc
        tables = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite~_%' ESCAPE '~' ORDER BY name"
        ).fetchall()
        return {
            table: tuple(
                ModelColumn(name=name, sql_type=sql_type, not_null=bool(not_null), primary_key_position=position)
                for name, sql_type, not_null, position in connection.execute(
                    'SELECT name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid', (table,)
                )
            )
            for (table,) in tables
        }
