"""The database effect: async SQL on SQLite (aiosqlite) or PostgreSQL (asyncpg), parameterised queries only.

`settings.database_url` picks the backend: `sqlite:///path` (the embedded
default) or `postgresql://user:password@host:port/database` (the `postgres`
extra; a connection pool sized by `database_pool_min_size`/`..._max_size`).
Both sit behind one interface, and the same SQL runs on either.

`process` runs one statement (`execute`, `fetch_one`, `fetch_all`) or a list of
statements atomically (`transaction`); `async with node.transaction():` groups
calls by hand. SQL carries values as `?` or `:name` parameters (PostgreSQL gets
them numbered `$1`, `$2` ...) and may not embed string literals, comments or a
second statement. At startup the node applies the versioned files of
`schema/<sqlite|postgres>/` once each (on PostgreSQL under an advisory lock, so
two processes starting at once do not both apply them), and it carries out the
`database.upsert` and `database.delete` intents on the tables they create.

Features keep their domain records in `onex_records` without owning a table:
`insert_record`, `upsert_record`, `get_record` and `delete_record` store JSON
objects under a (collection, key) pair.

Driver errors become `OnexError` codes: a constraint violation is CONFLICT, a
lost or refused connection DEPENDENCY_UNAVAILABLE (retried, counted by the
breaker), a value of the wrong type VALIDATION_ERROR, other SQL errors
OPERATION_FAILED. `last_row_id` is SQLite's row id; PostgreSQL has none, so
read generated keys with `INSERT ... RETURNING id` through `fetch_one` (which
SQLite understands too).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, suppress
from contextvars import ContextVar
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Self, TypeVar
from uuid import UUID

import aiosqlite
from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter, ValidationError, model_validator

from ...core.errors import EnumCoreErrorCode, OnexError, invalid_input
from ...core.intents import ModelIntent
from ...core.metrics import monitor_performance
from ...core.nodes import NodeEffect
from ...core.sql import SqlParameters, SqlValue, check_parameterised_sql, numbered_placeholders, quote_identifier
from ...schema import ModelSchemaFile, schema_files

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy
    from asyncpg.transaction import Transaction

    from ...core.container import OnexContainer
    from ...core.settings import ModelOnexSettings

T = TypeVar("T")

#: One result row, column name -> value.
Row = dict[str, SqlValue]

#: Where applied schema versions are recorded.
MIGRATIONS_TABLE = "onex_schema_migrations"
#: Where the record methods keep documents (schema file `0002_records.sql`).
RECORDS_TABLE = "onex_records"

# The record statements, in SQL that SQLite and PostgreSQL both accept.
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
        default=None,
        description="SQLite's row id of the connection's last insert; None on PostgreSQL (use RETURNING).",
    )

    @property
    def row(self) -> Row | None:
        """The first row fetched, if any."""
        return self.rows[0] if self.rows else None


class ProtocolDatabaseSession(Protocol):
    """Statements on one connection: alone, or inside a transaction.

    SQL takes `?` or `:name` placeholders. Methods raise `OnexError` with the
    driver's errors already mapped to codes.
    """

    async def execute(self, sql: str, parameters: SqlParameters) -> tuple[int, int | None]:
        """Run a statement; return (rows changed, SQLite's last inserted row id or None)."""

    async def fetch_one(self, sql: str, parameters: SqlParameters) -> Row | None:
        """The first row of a query, or None."""

    async def fetch_all(self, sql: str, parameters: SqlParameters) -> list[Row]:
        """Every row of a query."""

    async def table_columns(self, table: str) -> frozenset[str]:
        """The columns of `table`; empty when there is no such table."""


class ProtocolDatabaseTransaction(ProtocolDatabaseSession, Protocol):
    """A session inside an open transaction; it ends with `commit` or `rollback`."""

    async def commit(self) -> None:
        """Commit and give the connection back."""

    async def rollback(self) -> None:
        """Roll back and give the connection back; never raises for a connection that is already lost."""


class ProtocolDatabaseBackend(Protocol):
    """What the node needs of a database driver; SQLite is the embedded one, PostgreSQL the production one."""

    #: The folder of `schema/` whose files this backend applies.
    dialect: str

    async def connect(self) -> None:
        """Open the connection (or pool); idempotent."""

    async def close(self) -> None:
        """Close the connection (or pool); idempotent."""

    def session(self) -> AbstractAsyncContextManager[ProtocolDatabaseSession]:
        """`async with backend.session() as session:` a connection for statements outside a transaction."""

    async def begin(self) -> ProtocolDatabaseTransaction:
        """A connection with a transaction started on it (released again by its commit or rollback)."""

    async def migrate(self, files: Sequence[ModelSchemaFile]) -> list[int]:
        """Apply the schema files not yet recorded in `onex_schema_migrations`; return their versions."""


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


class _SqliteSession:
    """Statements on the backend's one connection; the caller holds the backend's lock."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    async def execute(self, sql: str, parameters: SqlParameters) -> tuple[int, int | None]:
        with _sqlite_errors("execute", sql):
            async with self._connection.execute(sql, parameters) as cursor:
                return max(cursor.rowcount, 0), cursor.lastrowid

    async def fetch_one(self, sql: str, parameters: SqlParameters) -> Row | None:
        with _sqlite_errors("fetch_one", sql):
            async with self._connection.execute(sql, parameters) as cursor:
                row = await cursor.fetchone()
        return dict(row) if row is not None else None

    async def fetch_all(self, sql: str, parameters: SqlParameters) -> list[Row]:
        with _sqlite_errors("fetch_all", sql):
            async with self._connection.execute(sql, parameters) as cursor:
                rows = await cursor.fetchall()
        return [dict(row) for row in rows]

    async def table_columns(self, table: str) -> frozenset[str]:
        """The columns of `table`, read with a bound parameter (`pragma_table_info`)."""
        rows = await self.fetch_all("SELECT name FROM pragma_table_info(?)", (table,))
        return frozenset(str(row["name"]) for row in rows)


class _SqliteTransaction(_SqliteSession):
    """A transaction holding the backend's lock (SQLite has one writer) until it ends."""

    def __init__(self, connection: aiosqlite.Connection, lock: asyncio.Lock) -> None:
        super().__init__(connection)
        self._lock = lock

    async def commit(self) -> None:
        with _sqlite_errors("commit"):
            await self._connection.commit()
        self._end()

    async def rollback(self) -> None:
        try:
            with _sqlite_errors("roll back"):
                await self._connection.rollback()
        finally:
            self._end()

    def _end(self) -> None:
        if self._lock.locked():
            self._lock.release()


class SqliteDatabaseBackend:
    """SQLite through aiosqlite: one connection in autocommit mode, explicit transactions.

    A lock gives the connection to one caller at a time, and to a transaction
    until it ends: SQLite has a single writer anyway.
    """

    dialect = "sqlite"
    _URL_PREFIX = "sqlite:///"

    def __init__(self, path: str) -> None:
        """Use the database file `path` (`:memory:` for a private in-memory one)."""
        self.path = path
        self._connection: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

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

    @asynccontextmanager
    async def session(self) -> AsyncIterator[_SqliteSession]:
        """The connection, once no other caller or transaction uses it."""
        async with self._lock:
            yield _SqliteSession(self._conn())

    async def begin(self) -> _SqliteTransaction:
        """Take the lock and start a transaction holding SQLite's write lock from the start."""
        await self._lock.acquire()
        try:
            connection = self._conn()
            with _sqlite_errors("begin a transaction"):
                await connection.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return _SqliteTransaction(connection, self._lock)

    async def migrate(self, files: Sequence[ModelSchemaFile]) -> list[int]:
        """Apply, in order, each schema file not recorded, each in a transaction of its own.

        `BEGIN IMMEDIATE` takes SQLite's write lock before the check, so two
        processes starting at once apply each file once.
        """
        async with self.session() as session:
            await session.execute(
                "CREATE TABLE IF NOT EXISTS onex_schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
                (),
            )
        applied: list[int] = []
        for file in files:
            transaction = await self.begin()
            try:
                done = await transaction.fetch_one(
                    "SELECT 1 FROM onex_schema_migrations WHERE version = ?", (file.version,)
                )
                if done is None:
                    for statement in _split_script(file.sql):
                        await transaction.execute(statement, ())
                    await transaction.execute(
                        "INSERT INTO onex_schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                        (file.version, file.name, datetime.now(UTC).isoformat()),
                    )
                    applied.append(file.version)
                await transaction.commit()
            except BaseException:
                await transaction.rollback()
                raise
        return applied

    def _conn(self) -> aiosqlite.Connection:
        if self._connection is None:
            raise OnexError(
                f"the database {self.path!r} is not connected",
                code=EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE,
            )
        return self._connection


#: The `pg_advisory_xact_lock` key that lets one process at a time apply the schema to a database.
_MIGRATION_LOCK = 0x6F6E6578_736368  # "onexsch"
#: Error codes by SQLSTATE: a whole code first, else its class (the first two characters).
_SQLSTATE_CODES: dict[str, EnumCoreErrorCode] = {
    "57014": EnumCoreErrorCode.TIMEOUT,  # query_canceled: the statement timeout, or a cancel
    "42501": EnumCoreErrorCode.PERMISSION_DENIED,  # insufficient_privilege
    "23": EnumCoreErrorCode.CONFLICT,  # integrity constraint violation (unique, foreign key, not null, check)
    "40": EnumCoreErrorCode.CONFLICT,  # serialization failure or deadlock: the caller may run it again
    "22": EnumCoreErrorCode.VALIDATION_ERROR,  # data exception: a value of the wrong type or out of range
    "08": EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE,  # connection exception
    "53": EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE,  # insufficient resources: too many connections, disk full
    "57": EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE,  # operator intervention: shutdown, restart, crash recovery
    "58": EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE,  # system error: I/O
    "28": EnumCoreErrorCode.CONFIGURATION_ERROR,  # invalid authorization: wrong user or password
    "3D": EnumCoreErrorCode.CONFIGURATION_ERROR,  # invalid catalog name: no such database
}
#: Commands whose status ends with the number of rows they changed.
_COUNTED_COMMANDS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE"})


@contextmanager
def _postgres_errors(action: str, sql: str | None = None) -> Iterator[None]:
    """Map asyncpg and OS errors raised inside the block to `OnexError` codes (server errors by SQLSTATE)."""
    import asyncpg  # noqa: PLC0415 - the optional `postgres` extra, loaded once a PostgreSQL URL is used

    details: dict[str, JsonValue] = {"action": action}
    if sql is not None:
        details["sql"] = sql
    try:
        yield
    except asyncpg.PostgresError as exc:
        state = exc.sqlstate or ""
        code = _SQLSTATE_CODES.get(state) or _SQLSTATE_CODES.get(state[:2], EnumCoreErrorCode.OPERATION_FAILED)
        raise OnexError(f"{action}: {exc}", code=code, details=details | {"sqlstate": state}) from exc
    except asyncpg.ClientConfigurationError as exc:
        raise OnexError(f"{action}: {exc}", code=EnumCoreErrorCode.CONFIGURATION_ERROR, details=details) from exc
    except asyncpg.InterfaceError as exc:
        # Statements and parameters are checked before they reach the driver: what is left is a
        # connection that closed under the caller (lost with the server, or dropped by the pool).
        raise OnexError(f"{action}: {exc}", code=EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE, details=details) from exc
    except TimeoutError as exc:
        raise OnexError(f"{action}: timed out", code=EnumCoreErrorCode.TIMEOUT, details=details) from exc
    except OSError as exc:
        raise OnexError(f"{action}: {exc}", code=EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE, details=details) from exc


def _rows_changed(status: str) -> int:
    """The row count in a command status such as `INSERT 0 1` or `UPDATE 3`; 0 for other commands."""
    words = status.split()
    if len(words) > 1 and words[0] in _COUNTED_COMMANDS and words[-1].isdigit():
        return int(words[-1])
    return 0


def _sql_value(column: str, value: object) -> SqlValue:
    """A PostgreSQL value as the scalar SQLite would return.

    NUMERIC is an int when its scale has no fraction (`sum` of integers), else a
    float; dates, times and UUIDs are ISO-8601 / canonical text.

    Raises:
        OnexError: OPERATION_FAILED for any other type (arrays, intervals ...):
            cast the column to TEXT in the query.
    """
    match value:
        case None | str() | bytes() | bool() | int() | float():
            return value
        case Decimal():
            exponent = value.as_tuple().exponent
            return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
        case datetime() | date() | time():
            return value.isoformat()
        case UUID():
            return str(value)
    raise OnexError(
        f"column {column!r} holds a {type(value).__name__}, which the database node does not return; "
        "cast it to TEXT in the query",
        code=EnumCoreErrorCode.OPERATION_FAILED,
        details={"column": column, "type": type(value).__name__},
    )


def _row(record: asyncpg.Record) -> Row:
    return {name: _sql_value(name, value) for name, value in record.items()}


async def _release(pool: asyncpg.Pool[asyncpg.Record], connection: PoolConnectionProxy[asyncpg.Record]) -> None:
    """Give `connection` back to `pool`; asyncpg closes one it cannot reset, and the pool opens another."""
    with suppress(OnexError), _postgres_errors("release a connection"):
        await pool.release(connection)


class _PostgresSession:
    """Statements on one pooled connection, their placeholders numbered for PostgreSQL.

    A connection runs one statement at a time: tasks started inside a
    transaction share its session, so they take turns.
    """

    def __init__(self, connection: PoolConnectionProxy[asyncpg.Record]) -> None:
        self._connection = connection
        self._turn = asyncio.Lock()

    async def execute(self, sql: str, parameters: SqlParameters) -> tuple[int, int | None]:
        statement, values = numbered_placeholders(sql, parameters)
        with _postgres_errors("execute", sql):
            async with self._turn:
                status = await self._connection.execute(statement, *values)
        return _rows_changed(status), None

    async def fetch_one(self, sql: str, parameters: SqlParameters) -> Row | None:
        statement, values = numbered_placeholders(sql, parameters)
        with _postgres_errors("fetch_one", sql):
            async with self._turn:
                record = await self._connection.fetchrow(statement, *values)
        return _row(record) if record is not None else None

    async def fetch_all(self, sql: str, parameters: SqlParameters) -> list[Row]:
        statement, values = numbered_placeholders(sql, parameters)
        with _postgres_errors("fetch_all", sql):
            async with self._turn:
                records = await self._connection.fetch(statement, *values)
        return [_row(record) for record in records]

    async def table_columns(self, table: str) -> frozenset[str]:
        """The columns of `table` in the current schema (`information_schema.columns`)."""
        rows = await self.fetch_all(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ?",
            (table,),
        )
        return frozenset(str(row["column_name"]) for row in rows)


class _PostgresTransaction(_PostgresSession):
    """A transaction on a connection borrowed from the pool until it ends."""

    def __init__(
        self,
        pool: asyncpg.Pool[asyncpg.Record],
        connection: PoolConnectionProxy[asyncpg.Record],
        transaction: Transaction,
    ) -> None:
        super().__init__(connection)
        self._pool = pool
        self._transaction = transaction

    async def commit(self) -> None:
        with _postgres_errors("commit"):
            await self._transaction.commit()
        await _release(self._pool, self._connection)

    async def rollback(self) -> None:
        # A lost connection rolled the transaction back already: the release drops it.
        with suppress(OnexError), _postgres_errors("roll back"):
            await self._transaction.rollback()
        await _release(self._pool, self._connection)


class PostgresDatabaseBackend:
    """PostgreSQL through an asyncpg connection pool: a statement or a transaction borrows a connection."""

    dialect = "postgres"
    URL_SCHEMES = ("postgresql://", "postgres://")

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 10.0,
        command_timeout: float | None = 30.0,
    ) -> None:
        """Use the database at `url`; the pool keeps `min_size` to `max_size` connections.

        Raises:
            OnexError: CONFIGURATION_ERROR when the `postgres` extra (asyncpg) is
                not installed, or `min_size` exceeds `max_size`.
        """
        try:
            import asyncpg  # noqa: PLC0415 - the optional `postgres` extra, loaded once a PostgreSQL URL is used
        except ModuleNotFoundError as exc:
            raise OnexError(
                "a postgresql:// database_url needs the `postgres` extra (asyncpg); install it with `pip install "
                "'<this library>[postgres]'`",
                code=EnumCoreErrorCode.CONFIGURATION_ERROR,
            ) from exc
        if min_size > max_size:
            raise OnexError(
                f"the pool's minimum size {min_size} exceeds its maximum size {max_size}",
                code=EnumCoreErrorCode.CONFIGURATION_ERROR,
                details={"min_size": min_size, "max_size": max_size},
            )
        self._create_pool = asyncpg.create_pool
        self._url = url
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None

    async def connect(self) -> None:
        """Open the pool with its minimum of connections; idempotent."""
        if self._pool is not None:
            return
        with _postgres_errors("connect to PostgreSQL"):
            try:
                pool = await self._create_pool(
                    self._url,
                    min_size=self._min_size,
                    max_size=self._max_size,
                    timeout=self._connect_timeout,
                    command_timeout=self._command_timeout,
                )
            except ValueError as exc:
                raise OnexError(
                    f"database_url is not a PostgreSQL URL: {exc}", code=EnumCoreErrorCode.CONFIGURATION_ERROR
                ) from exc
        self._pool = pool

    async def close(self) -> None:
        """Close the pool; idempotent. Connections the server dropped are closed without a goodbye."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            with _postgres_errors("close the connection pool"):
                async with asyncio.timeout(self._connect_timeout):
                    await pool.close()
        except OnexError:
            pool.terminate()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[_PostgresSession]:
        """A connection borrowed from the pool for the block."""
        pool = self._connected()
        connection = await self._acquire(pool)
        try:
            yield _PostgresSession(connection)
        finally:
            await _release(pool, connection)

    async def begin(self) -> _PostgresTransaction:
        """Borrow a connection and start a transaction on it (READ COMMITTED)."""
        pool = self._connected()
        connection = await self._acquire(pool)
        transaction = connection.transaction()
        try:
            with _postgres_errors("begin a transaction"):
                await transaction.start()
        except BaseException:
            await _release(pool, connection)
            raise
        return _PostgresTransaction(pool, connection, transaction)

    async def migrate(self, files: Sequence[ModelSchemaFile]) -> list[int]:
        """Apply, in order, the schema files not recorded, all in one transaction.

        The transaction first takes an advisory lock: a second process starting
        at the same time waits, then finds every file recorded.
        """
        pool = self._connected()
        connection = await self._acquire(pool)
        applied: list[int] = []
        try:
            with _postgres_errors("apply the schema"):
                async with connection.transaction():
                    await connection.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                    await connection.execute(
                        "CREATE TABLE IF NOT EXISTS onex_schema_migrations ("
                        "version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
                    )
                    done = {
                        row["version"] for row in await connection.fetch("SELECT version FROM onex_schema_migrations")
                    }
                    for file in files:
                        if file.version in done:
                            continue
                        with _postgres_errors(f"apply {file.name}"):
                            await connection.execute(file.sql)  # no parameters: the whole script runs
                        await connection.execute(
                            "INSERT INTO onex_schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                            file.version,
                            file.name,
                            datetime.now(UTC).isoformat(),
                        )
                        applied.append(file.version)
        finally:
            await _release(pool, connection)
        return applied

    def _connected(self) -> asyncpg.Pool[asyncpg.Record]:
        if self._pool is None:
            raise OnexError("the PostgreSQL pool is not open", code=EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE)
        return self._pool

    async def _acquire(self, pool: asyncpg.Pool[asyncpg.Record]) -> PoolConnectionProxy[asyncpg.Record]:
        """A connection from `pool`, waiting at most the connect timeout for a free one."""
        with _postgres_errors("connect to PostgreSQL"):
            return await pool.acquire(timeout=self._connect_timeout)


def create_backend(settings: ModelOnexSettings) -> ProtocolDatabaseBackend:
    """The backend that `settings.database_url` names."""
    url = settings.database_url
    if url.startswith("sqlite:"):
        return SqliteDatabaseBackend.from_url(url)
    if url.startswith(PostgresDatabaseBackend.URL_SCHEMES):
        return PostgresDatabaseBackend(
            url,
            min_size=settings.database_pool_min_size,
            max_size=settings.database_pool_max_size,
            connect_timeout=settings.database_connect_timeout_seconds,
            command_timeout=settings.database_command_timeout_seconds,
        )
    scheme = url.partition(":")[0]
    raise OnexError(
        f"unsupported database_url scheme {scheme!r}; use sqlite:///<path> or postgresql://user:password@host/db",
        code=EnumCoreErrorCode.CONFIGURATION_ERROR,
        details={"scheme": scheme},
    )


#: The node whose transaction the current task is inside, if any.
_ACTIVE_TRANSACTION: ContextVar[tuple[NodeDatabaseEffect, ProtocolDatabaseTransaction] | None] = ContextVar(
    "onex_database_transaction", default=None
)


class NodeDatabaseEffect(NodeEffect[ModelDatabaseInput, ModelDatabaseOutput]):
    """Async SQL with parameterised queries, transactions and versioned schema files.

    Statements outside a transaction borrow the backend's connection (SQLite:
    the one connection, in turn; PostgreSQL: one from the pool); a transaction
    keeps one connection until it ends, and the calls of the task inside it
    run on that connection.
    """

    node_name = "database"
    handled_intents = frozenset({"database.upsert", "database.delete"})

    def __init__(self, container: OnexContainer) -> None:
        """Prepare; the connection opens in `startup`."""
        super().__init__(container)
        self._backend: ProtocolDatabaseBackend | None = None
        #: The time records are written at (`created_at`, `updated_at`); replaceable in tests.
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @property
    def backend(self) -> ProtocolDatabaseBackend:
        """The driver backend (after `initialize`)."""
        return self.acquired(self._backend, "database backend")

    async def on_initialize(self) -> None:
        """Pick the backend from `settings.database_url`."""
        self._backend = create_backend(self.settings)

    async def on_startup(self) -> None:
        """Connect and apply the schema files not yet applied."""
        await self.run_effect(self._open)

    async def on_shutdown(self) -> None:
        """Close the connection or the pool."""
        if self._backend is not None:
            await self._backend.close()

    async def check_connectivity(self) -> None:
        """Run `SELECT 1` (inside the caller's transaction, if any: SQLite's one connection is busy with it)."""
        transaction = self._active_transaction()
        if transaction is not None:
            await transaction.fetch_one("SELECT 1", ())
            return
        async with self.backend.session() as session:
            await session.fetch_one("SELECT 1", ())

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

        Calls of the node made by the task inside the block join the transaction.
        Other tasks do not see its writes until it commits (on SQLite they wait
        until it ends). Transactions do not nest.
        """
        self.require_running()
        if self._active_transaction() is not None:
            raise OnexError("transactions do not nest", code=EnumCoreErrorCode.OPERATION_FAILED)
        transaction = await self.run_effect(self.backend.begin)
        token = _ACTIVE_TRANSACTION.set((self, transaction))
        try:
            yield
            await self.run_effect(transaction.commit, retry=False)
        except BaseException:
            await transaction.rollback()
            raise
        finally:
            _ACTIVE_TRANSACTION.reset(token)

    async def execute_intent(self, intent: ModelIntent) -> JsonValue:
        """Carry out `database.upsert` and `database.delete`.

        An upsert's payload may name a `version_column`: the row then replaces a
        stored one only if that one's version is one lower (see `upsert`).
        """
        if intent.intent_type == "database.upsert":
            row = _scalar_mapping(intent.payload.get("row"), "row")
            key = _column_list(intent.payload.get("key"))
            version_column = _optional_column(intent.payload.get("version_column"))
            rowcount = await self.upsert(intent.target, row, key=key, version_column=version_column)
            return {"table": intent.target, "rowcount": rowcount}
        if intent.intent_type == "database.delete":
            where = _scalar_mapping(intent.payload.get("where"), "where")
            return {"table": intent.target, "rowcount": await self.delete(intent.target, where)}
        return await super().execute_intent(intent)

    @monitor_performance("database.upsert")
    async def upsert(
        self, table: str, row: Mapping[str, SqlValue], *, key: Sequence[str], version_column: str | None = None
    ) -> int:
        """Insert `row`, or update the row with the same `key` columns; return rows changed.

        With `version_column` the write is conditional (optimistic concurrency):
        a stored row is replaced only when its version is the new row's minus
        one. Of two writers that read the same version and fold into it, one
        wins and the other gets CONFLICT instead of overwriting the first.

        Raises:
            OnexError: VALIDATION_ERROR for an unknown table or column, key
                columns missing from the row, or a version that is not an
                integer column of the row outside the key; CONFLICT when the
                stored version is not the one the row follows.
        """
        if not row or not key:
            raise OnexError("an upsert needs a row and key columns", code=EnumCoreErrorCode.VALIDATION_ERROR)
        missing = [column for column in key if column not in row]
        if missing:
            raise OnexError(
                f"key columns {missing} are not in the row",
                code=EnumCoreErrorCode.VALIDATION_ERROR,
                details={"table": table, "missing": list(missing)},
            )
        version = _row_version(table, row, key, version_column)
        await self._check_identifiers(table, row.keys())
        columns = list(row)
        updates = [column for column in columns if column not in key]
        action = (
            "DO UPDATE SET " + ", ".join(f"{quote_identifier(c)} = excluded.{quote_identifier(c)}" for c in updates)
            if updates
            else "DO NOTHING"
        )
        if version_column is not None:
            column = quote_identifier(version_column)
            action += f" WHERE {quote_identifier(table)}.{column} = excluded.{column} - 1"
        sql = (
            f"INSERT INTO {quote_identifier(table)} ({', '.join(map(quote_identifier, columns))}) "  # noqa: S608 - identifiers checked against the schema, then quoted
            f"VALUES ({', '.join('?' for _ in columns)}) "
            f"ON CONFLICT ({', '.join(map(quote_identifier, key))}) {action}"
        )
        rowcount, _ = await self._run(lambda db: db.execute(sql, list(row.values())))
        if version is not None and rowcount == 0:
            raise OnexError(
                f"the row of {table!r} changed since it was read: the stored {version_column} is not {version - 1}",
                code=EnumCoreErrorCode.CONFLICT,
                details={"table": table, "version_column": version_column, "version": version},
            )
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
                conditions.append(f"{quote_identifier(column)} = ?")
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
        row = await self._run(lambda db: db.fetch_one(_SELECT_RECORD, (collection, key)))
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
        """Run a record statement; return whether it changed a row."""
        rowcount, _ = await self._run(lambda db: db.execute(sql, parameters))
        return rowcount > 0

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

    async def _run(self, operation: Callable[[ProtocolDatabaseSession], Awaitable[T]], *, retry: bool = True) -> T:
        """Run `operation` through the breaker: inside the caller's transaction, or on a session of its own."""
        self.require_running()
        transaction = self._active_transaction()
        if transaction is not None:
            return await self.run_effect(lambda: operation(transaction), retry=False)
        backend = self.backend

        async def alone() -> T:
            async with backend.session() as session:
                return await operation(session)

        return await self.run_effect(alone, retry=retry)

    def _active_transaction(self) -> ProtocolDatabaseTransaction | None:
        """The transaction of this node that the current task is inside, if any."""
        active = _ACTIVE_TRANSACTION.get()
        return active[1] if active is not None and active[0] is self else None

    async def _check_identifiers(self, table: str, columns: Iterable[str]) -> None:
        """Refuse a table or column the schema does not have, before any name reaches SQL."""
        if table == MIGRATIONS_TABLE or table.startswith(("sqlite_", "pg_")):
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


def _optional_column(value: JsonValue) -> str | None:
    """An intent payload's optional `version_column`: a column name, or None."""
    if value is None or isinstance(value, str):
        return value
    raise OnexError(
        "intent payload 'version_column' must be a column name",
        code=EnumCoreErrorCode.VALIDATION_ERROR,
        details={"field": "version_column"},
    )


def _row_version(table: str, row: Mapping[str, SqlValue], key: Sequence[str], version_column: str | None) -> int | None:
    """The row's value of `version_column`, None without one.

    Raises:
        OnexError: VALIDATION_ERROR unless it is an integer column of the row outside the key.
    """
    if version_column is None:
        return None
    version = row.get(version_column)
    if version_column in key or not isinstance(version, int) or isinstance(version, bool):
        raise OnexError(
            f"version column {version_column!r} must be an integer column of the row, outside the key",
            code=EnumCoreErrorCode.VALIDATION_ERROR,
            details={"table": table, "version_column": version_column},
        )
    return version


def _column_list(value: JsonValue) -> list[str]:
    """An intent payload's `key`: a non-empty list of column names."""
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise OnexError(
            "intent payload 'key' must be a non-empty list of column names",
            code=EnumCoreErrorCode.VALIDATION_ERROR,
            details={"field": "key"},
        )
    return [str(item) for item in value]
