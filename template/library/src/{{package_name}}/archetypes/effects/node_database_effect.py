"""The database effect: async SQL on SQLite (aiosqlite) with parameterised queries only.

`process` runs one statement (`execute`, `fetch_one`, `fetch_all`) or a list of
statements atomically (`transaction`); `async with node.transaction():` groups
calls by hand. SQL text may not embed string literals, comments or a second
statement: values travel as parameters. At startup the node applies the
versioned files of `schema/sqlite/` once each, and it carries out the
`database.upsert` and `database.delete` intents on the tables they create.

Features keep their domain records in `onex_records` without owning a table:
`insert_record`, `upsert_record`, `get_record` and `delete_record` store JSON
objects under a (collection, key) pair.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Self, TypeVar

import aiosqlite
from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter, ValidationError, model_validator

from ...core.errors import EnumCoreErrorCode, OnexError, invalid_input
from ...core.intents import ModelIntent
from ...core.metrics import monitor_performance
from ...core.nodes import NodeEffect
from ...schema import ModelSchemaFile, schema_files

if TYPE_CHECKING:
    from ...core.container import OnexContainer

T = TypeVar("T")

#: A value a column holds or a parameter carries.
SqlValue = str | int | float | bool | bytes | None
#: Positional (`?`) or named (`:name`) parameters of one statement.
SqlParameters = Sequence[SqlValue] | Mapping[str, SqlValue]
#: One result row, column name -> value.
Row = dict[str, SqlValue]

#: Where applied schema versions are recorded.
MIGRATIONS_TABLE = "onex_schema_migrations"
#: Where the record methods keep documents (schema file `0002_records.sql`).
RECORDS_TABLE = "onex_records"

# The record statements, in SQL that SQLite and PostgreSQL both accept (`?` becomes the backend's placeholder).
_INSERT_RECORD = (
    "INSERT INTO onex_records (collection, record_key, document, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (collection, record_key) DO NOTHING"
)
_UPSERT_RECORD = (
    "INSERT INTO onex_records (collection, record_key, document, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (collection, record_key) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at"
)
_SELECT_RECORD = "SELECT document FROM onex_records WHERE collection = ? AND record_key = ?"
_DELETE_RECORD = "DELETE FROM onex_records WHERE collection = ? AND record_key = ?"
#: What a record's document is: a JSON object.
_DOCUMENT: TypeAdapter[dict[str, JsonValue]] = TypeAdapter(dict[str, JsonValue])

_TRANSACTION_KEYWORDS = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"})
_QUOTES = {'"': '"', "`": "`"}


class EnumDatabaseOperation(StrEnum):
    """What one `process` call does."""

    EXECUTE = "execute"
    FETCH_ONE = "fetch_one"
    FETCH_ALL = "fetch_all"
    TRANSACTION = "transaction"


class ModelSqlStatement(BaseModel):
    """One parameterised SQL statement."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sql: str = Field(min_length=1, description="SQL with `?` or `:name` placeholders and no literal strings.")
    parameters: tuple[SqlValue, ...] | dict[str, SqlValue] = Field(
        default=(), description="Values bound to the placeholders."
    )


class ModelDatabaseInput(BaseModel):
    """One statement to run, or a list of statements to run atomically."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: EnumDatabaseOperation = Field(description="What to do with the SQL.")
    sql: str = Field(default="", description="The statement (every operation but `transaction`).")
    parameters: tuple[SqlValue, ...] | dict[str, SqlValue] = Field(
        default=(), description="Values bound to the placeholders of `sql`."
    )
    statements: tuple[ModelSqlStatement, ...] = Field(
        default=(), description="The statements of a `transaction`, run all or nothing."
    )

    @model_validator(mode="after")
    def _check_shape(self) -> Self:
        if self.operation is EnumDatabaseOperation.TRANSACTION:
            if not self.statements or self.sql:
                raise ValueError("a transaction takes `statements` and no `sql`")
        elif not self.sql or self.statements:
            raise ValueError(f"{self.operation} takes `sql` and no `statements`")
        return self


class ModelDatabaseOutput(BaseModel):
    """What a statement returned or changed (BLOB values serialise to JSON as base64)."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_bytes="base64")

    operation: EnumDatabaseOperation = Field(description="The operation that ran.")
    rows: tuple[Row, ...] = Field(default=(), description="Rows fetched (at most one for `fetch_one`).")
    rowcount: int = Field(default=0, description="Rows changed by `execute` or by a whole `transaction`.")
    last_row_id: int | None = Field(
        default=None, description="Row id of the connection's last insert (meaningful after an INSERT)."
    )

    @property
    def row(self) -> Row | None:
        """The first row fetched, if any."""
        return self.rows[0] if self.rows else None


def check_parameterised_sql(sql: str) -> None:
    """Refuse SQL that embeds values or could smuggle in a second statement.

    Raises:
        OnexError: VALIDATION_ERROR naming the reason (string literal, comment,
            several statements, transaction control).
    """
    reason = _sql_problem(sql)
    if reason is not None:
        raise OnexError(
            f"refused SQL: {reason}",
            code=EnumCoreErrorCode.VALIDATION_ERROR,
            details={"sql": sql, "reason": reason},
        )


def _sql_problem(sql: str) -> str | None:
    words = sql.split(None, 1)
    if not words:
        return "the statement is empty"
    if words[0].upper() in _TRANSACTION_KEYWORDS:
        return "transaction control belongs to `transaction()`"
    return _lexical_problem(sql)


def _lexical_problem(sql: str) -> str | None:
    """Scan `sql` outside quoted identifiers for literals, comments and `;`."""
    position = 0
    while position < len(sql):
        char = sql[position]
        if char in _QUOTES:
            end = sql.find(_QUOTES[char], position + 1)
            if end == -1:
                return "a quoted identifier is not closed"
            position = end + 1
            continue
        if char == "'":
            return "it embeds a string literal; pass values as parameters"
        if sql.startswith(("--", "/*"), position):
            return "it contains a comment"
        if char == ";" and sql[position + 1 :].strip():
            return "it contains several statements"
        position += 1
    return None


def quote_identifier(name: str) -> str:
    """`name` as a double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


class ProtocolDatabaseBackend(Protocol):
    """What the node needs of a database driver; SQLite is the embedded one.

    Methods raise `OnexError` with the driver's errors already mapped to codes.
    """

    #: The folder of `schema/` whose files this backend applies.
    dialect: str

    async def connect(self) -> None:
        """Open the connection; idempotent."""

    async def close(self) -> None:
        """Close the connection; idempotent."""

    async def ping(self) -> None:
        """Raise unless the database answers `SELECT 1`."""

    async def execute(self, sql: str, parameters: SqlParameters) -> tuple[int, int | None]:
        """Run a statement; return (rows changed, last inserted row id)."""

    async def fetch_one(self, sql: str, parameters: SqlParameters) -> Row | None:
        """The first row of a query, or None."""

    async def fetch_all(self, sql: str, parameters: SqlParameters) -> list[Row]:
        """Every row of a query."""

    async def begin(self) -> None:
        """Start a transaction."""

    async def commit(self) -> None:
        """Commit the current transaction."""

    async def rollback(self) -> None:
        """Roll back the current transaction, if any."""

    async def table_columns(self, table: str) -> frozenset[str]:
        """The columns of `table`; empty when there is no such table."""

    async def migrate(self, files: Sequence[ModelSchemaFile]) -> list[int]:
        """Apply the schema files not yet recorded, each atomically; return their versions."""

    def placeholder(self, index: int) -> str:
        """The placeholder of the positional parameter `index` (0-based)."""


_UNAVAILABLE_ERRORS = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR")


@contextmanager
def _sqlite_errors(action: str, sql: str | None = None) -> Iterator[None]:
    """Map sqlite3 and OS errors raised inside the block to `OnexError` codes."""
    details: dict[str, JsonValue] = {"action": action}
    if sql is not None:
        details["sql"] = sql
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise OnexError(f"{action}: {exc}", code=EnumCoreErrorCode.CONFLICT, details=details) from exc
    except sqlite3.ProgrammingError as exc:
        raise OnexError(f"{action}: {exc}", code=EnumCoreErrorCode.VALIDATION_ERROR, details=details) from exc
    except sqlite3.Error as exc:
        name = getattr(exc, "sqlite_errorname", "")
        unavailable = name.startswith(_UNAVAILABLE_ERRORS)
        code = EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE if unavailable else EnumCoreErrorCode.OPERATION_FAILED
        raise OnexError(f"{action}: {exc}", code=code, details=details | {"sqlite_error": name}) from exc
    except OSError as exc:
        raise OnexError(f"{action}: {exc}", code=EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE, details=details) from exc


def _split_script(script: str) -> Iterator[str]:
    """The statements of a schema script (trigger bodies stay whole)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.rstrip(";").strip():
        yield pending.rstrip(";").strip()


class SqliteDatabaseBackend:
    """SQLite through aiosqlite: one connection in autocommit mode, explicit transactions."""

    dialect = "sqlite"
    _URL_PREFIX = "sqlite:///"

    def __init__(self, path: str) -> None:
        """Use the database file `path` (`:memory:` for a private in-memory one)."""
        self.path = path
        self._connection: aiosqlite.Connection | None = None

    @classmethod
    def from_url(cls, url: str) -> Self:
        """Parse `sqlite:///relative/path`, `sqlite:////absolute/path` or `sqlite:///:memory:`."""
        path = url.removeprefix(cls._URL_PREFIX)
        if path == url or not path:
            raise OnexError(
                f"database_url {url!r} is not sqlite:///<path>",
                code=EnumCoreErrorCode.CONFIGURATION_ERROR,
                details={"database_url": url},
            )
        return cls(path)

    async def connect(self) -> None:
        """Create the parent folder, open the file, enable foreign keys and WAL."""
        if self._connection is not None:
            return
        with _sqlite_errors(f"open {self.path}"):
            if self.path != ":memory:":
                await asyncio.to_thread(Path(self.path).parent.mkdir, parents=True, exist_ok=True)
            connection = await aiosqlite.connect(self.path, isolation_level=None)
            try:
                connection.row_factory = sqlite3.Row
                await connection.execute("PRAGMA foreign_keys = ON")
                await connection.execute("PRAGMA journal_mode = WAL")
            except BaseException:
                await connection.close()
                raise
        self._connection = connection

    async def close(self) -> None:
        """Close the connection; idempotent."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with _sqlite_errors("close the database"):
                await connection.close()

    async def ping(self) -> None:
        """Raise unless `SELECT 1` answers."""
        await self.fetch_one("SELECT 1", ())

    async def execute(self, sql: str, parameters: SqlParameters) -> tuple[int, int | None]:
        """Run one statement."""
        with _sqlite_errors("execute", sql):
            async with self._conn().execute(sql, parameters) as cursor:
                return cursor.rowcount, cursor.lastrowid

    async def fetch_one(self, sql: str, parameters: SqlParameters) -> Row | None:
        """The first row of a query, or None."""
        with _sqlite_errors("fetch_one", sql):
            async with self._conn().execute(sql, parameters) as cursor:
                row = await cursor.fetchone()
        return dict(row) if row is not None else None

    async def fetch_all(self, sql: str, parameters: SqlParameters) -> list[Row]:
        """Every row of a query."""
        with _sqlite_errors("fetch_all", sql):
            async with self._conn().execute(sql, parameters) as cursor:
                rows = await cursor.fetchall()
        return [dict(row) for row in rows]

    async def begin(self) -> None:
        """Start a transaction holding the write lock from the start."""
        with _sqlite_errors("begin a transaction"):
            await self._conn().execute("BEGIN IMMEDIATE")

    async def commit(self) -> None:
        """Commit the current transaction."""
        with _sqlite_errors("commit"):
            await self._conn().commit()

    async def rollback(self) -> None:
        """Roll back the current transaction; a no-op outside one."""
        with _sqlite_errors("roll back"):
            await self._conn().rollback()

    async def table_columns(self, table: str) -> frozenset[str]:
        """The columns of `table`, read with a bound parameter (`pragma_table_info`)."""
        rows = await self.fetch_all("SELECT name FROM pragma_table_info(?)", (table,))
        return frozenset(str(row["name"]) for row in rows)

    async def migrate(self, files: Sequence[ModelSchemaFile]) -> list[int]:
        """Apply, in order, each schema file not recorded in `onex_schema_migrations`."""
        await self.execute(
            "CREATE TABLE IF NOT EXISTS onex_schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
            (),
        )
        applied: list[int] = []
        for file in files:
            await self.begin()
            try:
                done = await self.fetch_one("SELECT 1 FROM onex_schema_migrations WHERE version = ?", (file.version,))
                if done is None:
                    for statement in _split_script(file.sql):
                        await self.execute(statement, ())
                    await self.execute(
                        "INSERT INTO onex_schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                        (file.version, file.name, datetime.now(UTC).isoformat()),
                    )
                    applied.append(file.version)
                await self.commit()
            except BaseException:
                await self.rollback()
                raise
        return applied

    def placeholder(self, index: int) -> str:
        """SQLite's positional placeholder."""
        return "?"

    def _conn(self) -> aiosqlite.Connection:
        if self._connection is None:
            raise OnexError(
                f"the database {self.path!r} is not connected",
                code=EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE,
            )
        return self._connection


def create_backend(database_url: str) -> ProtocolDatabaseBackend:
    """The backend that `database_url` names."""
    if database_url.startswith("sqlite:"):
        return SqliteDatabaseBackend.from_url(database_url)
    raise OnexError(
        f"unsupported database_url {database_url!r}; use sqlite:///<path>",
        code=EnumCoreErrorCode.CONFIGURATION_ERROR,
        details={"database_url": database_url},
    )


#: The node whose transaction the current task is inside, if any.
_ACTIVE_TRANSACTION: ContextVar[NodeDatabaseEffect | None] = ContextVar("onex_database_transaction", default=None)


class NodeDatabaseEffect(NodeEffect[ModelDatabaseInput, ModelDatabaseOutput]):
    """Async SQL with parameterised queries, transactions and versioned schema files.

    One connection is shared by every caller; a lock keeps a transaction's
    statements apart from other tasks' statements until it ends.
    """

    node_name = "database"
    handled_intents = frozenset({"database.upsert", "database.delete"})

    def __init__(self, container: OnexContainer) -> None:
        """Prepare; the connection opens in `startup`."""
        super().__init__(container)
        self._backend: ProtocolDatabaseBackend | None = None
        self._lock = asyncio.Lock()
        #: The time records are written at (`created_at`, `updated_at`); replaceable in tests.
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @property
    def backend(self) -> ProtocolDatabaseBackend:
        """The driver backend (after `initialize`)."""
        return self.acquired(self._backend, "database backend")

    async def on_initialize(self) -> None:
        """Pick the backend from `settings.database_url`."""
        self._backend = create_backend(self.settings.database_url)

    async def on_startup(self) -> None:
        """Connect and apply the schema files not yet applied."""
        await self.run_effect(self._open)

    async def on_shutdown(self) -> None:
        """Close the connection."""
        if self._backend is not None:
            await self._backend.close()

    async def check_connectivity(self) -> None:
        """Run `SELECT 1`."""
        await self.backend.ping()

    async def process(self, input_data: ModelDatabaseInput) -> ModelDatabaseOutput:
        """Run the operation `input_data` describes."""
        match input_data.operation:
            case EnumDatabaseOperation.EXECUTE:
                return await self.execute(input_data.sql, input_data.parameters)
            case EnumDatabaseOperation.FETCH_ONE:
                row = await self.fetch_one(input_data.sql, input_data.parameters)
                return ModelDatabaseOutput(operation=input_data.operation, rows=(row,) if row is not None else ())
            case EnumDatabaseOperation.FETCH_ALL:
                rows = await self.fetch_all(input_data.sql, input_data.parameters)
                return ModelDatabaseOutput(operation=input_data.operation, rows=tuple(rows))
            case EnumDatabaseOperation.TRANSACTION:
                return await self.run_transaction(input_data.statements)

    @monitor_performance("database.execute")
    async def execute(self, sql: str, parameters: SqlParameters = ()) -> ModelDatabaseOutput:
        """Run one statement; the output carries `rowcount` and `last_row_id`."""
        check_parameterised_sql(sql)
        rowcount, last_row_id = await self._run(lambda db: db.execute(sql, parameters))
        return ModelDatabaseOutput(operation=EnumDatabaseOperation.EXECUTE, rowcount=rowcount, last_row_id=last_row_id)

    @monitor_performance("database.fetch_one")
    async def fetch_one(self, sql: str, parameters: SqlParameters = ()) -> Row | None:
        """The first row of a query, or None."""
        check_parameterised_sql(sql)
        return await self._run(lambda db: db.fetch_one(sql, parameters))

    @monitor_performance("database.fetch_all")
    async def fetch_all(self, sql: str, parameters: SqlParameters = ()) -> list[Row]:
        """Every row of a query."""
        check_parameterised_sql(sql)
        return await self._run(lambda db: db.fetch_all(sql, parameters))

    @monitor_performance("database.transaction")
    async def run_transaction(self, statements: Sequence[ModelSqlStatement]) -> ModelDatabaseOutput:
        """Run `statements` all or nothing; the output's `rowcount` is their total."""
        for statement in statements:
            check_parameterised_sql(statement.sql)
        rowcount = 0
        async with self.transaction():
            for statement in statements:
                rowcount += (await self.execute(statement.sql, statement.parameters)).rowcount
        return ModelDatabaseOutput(operation=EnumDatabaseOperation.TRANSACTION, rowcount=rowcount)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """`async with node.transaction():` commits on success, rolls back on any error.

        Calls of `execute`/`fetch_*` made by the task inside the block join the
        transaction; other tasks wait until it ends. Transactions do not nest.
        """
        self.require_running()
        if _ACTIVE_TRANSACTION.get() is self:
            raise OnexError("transactions do not nest", code=EnumCoreErrorCode.OPERATION_FAILED)
        backend = self.backend
        async with self._lock:
            await self.run_effect(backend.begin)
            token = _ACTIVE_TRANSACTION.set(self)
            try:
                yield
                await self.run_effect(backend.commit, retry=False)
            except BaseException:
                await backend.rollback()
                raise
            finally:
                _ACTIVE_TRANSACTION.reset(token)

    async def execute_intent(self, intent: ModelIntent) -> JsonValue:
        """Carry out `database.upsert` and `database.delete`."""
        if intent.intent_type == "database.upsert":
            row = _scalar_mapping(intent.payload.get("row"), "row")
            key = _column_list(intent.payload.get("key"))
            return {"table": intent.target, "rowcount": await self.upsert(intent.target, row, key=key)}
        if intent.intent_type == "database.delete":
            where = _scalar_mapping(intent.payload.get("where"), "where")
            return {"table": intent.target, "rowcount": await self.delete(intent.target, where)}
        return await super().execute_intent(intent)

    @monitor_performance("database.upsert")
    async def upsert(self, table: str, row: Mapping[str, SqlValue], *, key: Sequence[str]) -> int:
        """Insert `row`, or update the row with the same `key` columns; return rows changed."""
        if not row or not key:
            raise OnexError("an upsert needs a row and key columns", code=EnumCoreErrorCode.VALIDATION_ERROR)
        missing = [column for column in key if column not in row]
        if missing:
            raise OnexError(
                f"key columns {missing} are not in the row",
                code=EnumCoreErrorCode.VALIDATION_ERROR,
                details={"table": table, "missing": list(missing)},
            )
        await self._check_identifiers(table, row.keys())
        columns = list(row)
        updates = [column for column in columns if column not in key]
        action = (
            "DO UPDATE SET " + ", ".join(f"{quote_identifier(c)} = excluded.{quote_identifier(c)}" for c in updates)
            if updates
            else "DO NOTHING"
        )
        sql = (
            f"INSERT INTO {quote_identifier(table)} ({', '.join(map(quote_identifier, columns))}) "  # noqa: S608 - identifiers checked against the schema, then quoted
            f"VALUES ({', '.join(self.backend.placeholder(i) for i in range(len(columns)))}) "
            f"ON CONFLICT ({', '.join(map(quote_identifier, key))}) {action}"
        )
        rowcount, _ = await self._run(lambda db: db.execute(sql, list(row.values())))
        return rowcount

    @monitor_performance("database.delete")
    async def delete(self, table: str, where: Mapping[str, SqlValue]) -> int:
        """Delete the rows whose columns equal `where` (AND-ed); return rows deleted."""
        if not where:
            raise OnexError(
                "a delete needs at least one condition; refusing to empty the table",
                code=EnumCoreErrorCode.VALIDATION_ERROR,
                details={"table": table},
            )
        await self._check_identifiers(table, where.keys())
        conditions: list[str] = []
        values: list[SqlValue] = []
        for column, value in where.items():
            if value is None:
                conditions.append(f"{quote_identifier(column)} IS NULL")
            else:
                conditions.append(f"{quote_identifier(column)} = {self.backend.placeholder(len(values))}")
                values.append(value)
        sql = f"DELETE FROM {quote_identifier(table)} WHERE {' AND '.join(conditions)}"  # noqa: S608 - identifiers checked against the schema, then quoted
        rowcount, _ = await self._run(lambda db: db.execute(sql, values))
        return rowcount

    @monitor_performance("database.insert_record")
    async def insert_record(self, collection: str, key: str, document: Mapping[str, JsonValue]) -> None:
        """Store `document` as the new record `key` of `collection`.

        Raises:
            OnexError: CONFLICT when the record exists (it is left unchanged);
                VALIDATION_ERROR for an empty collection or key, or a document
                that is not a JSON object.
        """
        text = _encode_document(collection, key, document)
        now = self._timestamp()
        if not await self._write_record(_INSERT_RECORD, (collection, key, text, now, now)):
            raise OnexError(
                f"record {key!r} of {collection!r} already exists",
                code=EnumCoreErrorCode.CONFLICT,
                details={"collection": collection, "key": key},
            )

    @monitor_performance("database.upsert_record")
    async def upsert_record(self, collection: str, key: str, document: Mapping[str, JsonValue]) -> None:
        """Store `document` as the record `key` of `collection`, replacing the one there, if any.

        A replaced record keeps its `created_at`; `updated_at` becomes now.

        Raises:
            OnexError: VALIDATION_ERROR for an empty collection or key, or a
                document that is not a JSON object.
        """
        text = _encode_document(collection, key, document)
        now = self._timestamp()
        await self._write_record(_UPSERT_RECORD, (collection, key, text, now, now))

    @monitor_performance("database.get_record")
    async def get_record(self, collection: str, key: str) -> dict[str, JsonValue] | None:
        """The document of the record `key` of `collection`, or None when there is no such record.

        Raises:
            OnexError: VALIDATION_ERROR for an empty collection or key;
                OPERATION_FAILED when the stored document is not a JSON object.
        """
        _check_record_address(collection, key)
        sql = self._bind(_SELECT_RECORD)
        row = await self._run(lambda db: db.fetch_one(sql, (collection, key)))
        if row is None:
            return None
        try:
            return _DOCUMENT.validate_json(str(row["document"]))
        except ValidationError as exc:
            raise OnexError(
                f"the stored document of record {key!r} of {collection!r} is not a JSON object",
                code=EnumCoreErrorCode.OPERATION_FAILED,
                details={"collection": collection, "key": key},
            ) from exc

    @monitor_performance("database.delete_record")
    async def delete_record(self, collection: str, key: str) -> bool:
        """Delete the record `key` of `collection`; return whether it existed.

        Raises:
            OnexError: VALIDATION_ERROR for an empty collection or key.
        """
        _check_record_address(collection, key)
        return await self._write_record(_DELETE_RECORD, (collection, key))

    async def _write_record(self, sql: str, parameters: tuple[str, ...]) -> bool:
        """Run a record statement with `?` placeholders; return whether it changed a row."""
        statement = self._bind(sql)
        rowcount, _ = await self._run(lambda db: db.execute(statement, parameters))
        return rowcount > 0

    def _bind(self, sql: str) -> str:
        """`sql` with each `?` replaced by the backend's positional placeholder."""
        first, *rest = sql.split("?")
        return first + "".join(self.backend.placeholder(index) + part for index, part in enumerate(rest))

    def _timestamp(self) -> str:
        """Now, from `clock`, as UTC ISO-8601."""
        return self.clock().astimezone(UTC).isoformat()

    async def _open(self) -> None:
        backend = self.backend
        files = await asyncio.to_thread(schema_files, backend.dialect)
        await backend.connect()
        try:
            await backend.migrate(files)
        except BaseException:
            await backend.close()
            raise

    async def _run(self, operation: Callable[[ProtocolDatabaseBackend], Awaitable[T]], *, retry: bool = True) -> T:
        """Run `operation` through the breaker: inside the caller's transaction, or alone under the lock."""
        self.require_running()
        backend = self.backend
        if _ACTIVE_TRANSACTION.get() is self:
            return await self.run_effect(lambda: operation(backend), retry=False)

        async def alone() -> T:
            async with self._lock:
                return await operation(backend)

        return await self.run_effect(alone, retry=retry)

    async def _check_identifiers(self, table: str, columns: Iterable[str]) -> None:
        """Refuse a table or column the schema does not have, before any name reaches SQL."""
        if table == MIGRATIONS_TABLE or table.startswith("sqlite_"):
            raise OnexError(
                f"table {table!r} is not writable through intents",
                code=EnumCoreErrorCode.PERMISSION_DENIED,
                details={"table": table},
            )
        known = await self._run(lambda db: db.table_columns(table))
        if not known:
            raise OnexError(
                f"unknown table {table!r}", code=EnumCoreErrorCode.VALIDATION_ERROR, details={"table": table}
            )
        unknown = sorted(set(columns) - known)
        if unknown:
            raise OnexError(
                f"table {table!r} has no column {', '.join(map(repr, unknown))}",
                code=EnumCoreErrorCode.VALIDATION_ERROR,
                details={"table": table, "unknown": list(unknown), "columns": ", ".join(sorted(known))},
            )


def _check_record_address(collection: str, key: str) -> None:
    """Refuse an empty collection or key with VALIDATION_ERROR."""
    for name, value in (("collection", collection), ("key", key)):
        if not value:
            raise OnexError(
                f"a record's {name} may not be empty",
                code=EnumCoreErrorCode.VALIDATION_ERROR,
                details={"collection": collection, "key": key},
            )


def _encode_document(collection: str, key: str, document: Mapping[str, JsonValue]) -> str:
    """The JSON text of a record's document, after checking its address and that it is a JSON object."""
    _check_record_address(collection, key)
    try:
        return json.dumps(_DOCUMENT.validate_python(document), separators=(",", ":"), allow_nan=False)
    except ValidationError as exc:
        raise invalid_input("a record's document", exc, collection=collection, key=key) from exc
    except ValueError as exc:  # NaN or infinity: valid floats, not JSON
        raise OnexError(
            f"a record's document is not JSON: {exc}",
            code=EnumCoreErrorCode.VALIDATION_ERROR,
            details={"collection": collection, "key": key},
        ) from exc


def _scalar_mapping(value: JsonValue, field: str) -> dict[str, SqlValue]:
    """An intent payload's `{column: scalar}` mapping, or VALIDATION_ERROR."""
    if not isinstance(value, dict):
        raise OnexError(
            f"intent payload {field!r} must be an object of column -> scalar",
            code=EnumCoreErrorCode.VALIDATION_ERROR,
            details={"field": field},
        )
    scalars: dict[str, SqlValue] = {}
    for column, item in value.items():
        if isinstance(item, dict | list):
            raise OnexError(
                f"intent payload {field}.{column} is not a scalar; JSON-encode structured values",
                code=EnumCoreErrorCode.VALIDATION_ERROR,
                details={"field": field, "column": column},
            )
        scalars[column] = item
    return scalars


def _column_list(value: JsonValue) -> list[str]:
    """An intent payload's `key`: a non-empty list of column names."""
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise OnexError(
            "intent payload 'key' must be a non-empty list of column names",
            code=EnumCoreErrorCode.VALIDATION_ERROR,
            details={"field": "key"},
        )
    return [str(item) for item in value]
