"""SQL text rules shared by every database backend: parameterised statements only.

A statement carries its values as parameters, `?` (positional) or `:name`
(named), never as literals: `check_parameterised_sql` refuses string literals,
comments, a second statement, transaction control and the placeholders only
one database knows (`$1`, `?1`), so the same SQL runs on SQLite and PostgreSQL
and its placeholders are unambiguous. `numbered_placeholders` rewrites them to
the `$1`, `$2` ... that PostgreSQL expects, outside quoted identifiers only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .errors import EnumCoreErrorCode, OnexError

#: A value a column holds or a parameter carries.
SqlValue = str | int | float | bool | bytes | None
#: Positional (`?`) or named (`:name`) parameters of one statement.
SqlParameters = Sequence[SqlValue] | Mapping[str, SqlValue]

_TRANSACTION_KEYWORDS = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "START"})
_QUOTES = {'"': '"', "`": "`"}
#: What may not appear outside quoted identifiers, and why.
_REFUSED_TOKENS = (
    ("'", "it embeds a string literal; pass values as parameters"),
    ("--", "it contains a comment"),
    ("/*", "it contains a comment"),
    ("$", "it contains `$` (a dollar quote or a numbered placeholder); use ? or :name"),
)


def check_parameterised_sql(sql: str) -> None:
    """Refuse SQL that embeds values, could smuggle in a second statement, or is not portable.

    Raises:
        OnexError: VALIDATION_ERROR naming the reason (string literal, comment,
            several statements, transaction control, a `$` or `?N` placeholder).
    """
    reason = _sql_problem(sql)
    if reason is not None:
        raise refused_sql(sql, reason)


def refused_sql(sql: str, reason: str) -> OnexError:
    """VALIDATION_ERROR for `sql`, refused for `reason`."""
    return OnexError(
        f"refused SQL: {reason}",
        code=EnumCoreErrorCode.VALIDATION_ERROR,
        details={"sql": sql, "reason": reason},
    )


def quote_identifier(name: str) -> str:
    """`name` as a double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def numbered_placeholders(sql: str, parameters: SqlParameters) -> tuple[str, list[SqlValue]]:
    """`sql` with its `?` or `:name` placeholders numbered `$1`, `$2` ..., and the values in that order.

    A name used twice becomes one number. `::` (a cast) is not a placeholder,
    and nothing inside a quoted identifier is.

    Raises:
        OnexError: VALIDATION_ERROR when `sql` is not parameterised SQL (see
            `check_parameterised_sql`), mixes both styles, or when the
            parameters do not match the placeholders.
    """
    check_parameterised_sql(sql)
    pieces: list[str] = []
    names: list[str] = []  # the named placeholders, numbered by first use
    positional = 0
    position = 0
    while position < len(sql):
        char = sql[position]
        if char in _QUOTES:
            end = sql.index(_QUOTES[char], position + 1) + 1  # closed: checked above
            pieces.append(sql[position:end])
            position = end
            continue
        if char == "?":
            positional += 1
            pieces.append(f"${positional}")
            position += 1
            continue
        if sql.startswith("::", position):
            pieces.append("::")
            position += 2
            continue
        if char == ":" and _starts_name(sql, position + 1):
            end = position + 1
            while end < len(sql) and (sql[end].isalnum() or sql[end] == "_"):
                end += 1
            name = sql[position + 1 : end]
            if name not in names:
                names.append(name)
            pieces.append(f"${names.index(name) + 1}")
            position = end
            continue
        pieces.append(char)
        position += 1
    if positional and names:
        raise refused_sql(sql, "it mixes ? and :name placeholders")
    return "".join(pieces), _ordered_values(sql, parameters, positional, names)


def _starts_name(sql: str, position: int) -> bool:
    return position < len(sql) and (sql[position].isalpha() or sql[position] == "_")


def _ordered_values(sql: str, parameters: SqlParameters, positional: int, names: list[str]) -> list[SqlValue]:
    """The parameter values in placeholder order, or VALIDATION_ERROR when they do not fit the placeholders."""
    if isinstance(parameters, Mapping):
        if positional:
            raise refused_sql(sql, "named parameters for ? placeholders")
        missing = [name for name in names if name not in parameters]
        if missing:
            raise refused_sql(sql, f"no value for {', '.join(':' + name for name in missing)}")
        return [parameters[name] for name in names]
    if names:
        raise refused_sql(sql, "positional parameters for :name placeholders")
    if len(parameters) != positional:
        raise refused_sql(sql, f"{positional} placeholders and {len(parameters)} parameters")
    return list(parameters)


def _sql_problem(sql: str) -> str | None:
    words = sql.split(None, 1)
    if not words:
        return "the statement is empty"
    if words[0].upper() in _TRANSACTION_KEYWORDS:
        return "transaction control belongs to `transaction()`"
    return _lexical_problem(sql)


def _lexical_problem(sql: str) -> str | None:
    """Scan `sql` outside quoted identifiers for literals, comments, `;` and unportable placeholders."""
    position = 0
    while position < len(sql):
        char = sql[position]
        if char in _QUOTES:
            end = sql.find(_QUOTES[char], position + 1)
            if end == -1:
                return "a quoted identifier is not closed"
            position = end + 1
            continue
        refused = next((reason for token, reason in _REFUSED_TOKENS if sql.startswith(token, position)), None)
        if refused is None and char == ";" and sql[position + 1 :].strip():
            refused = "it contains several statements"
        if refused is None and char == "?" and sql[position + 1 : position + 2].isdigit():
            refused = "it contains a numbered `?N` placeholder; use ? or :name"
        if refused is not None:
            return refused
        position += 1
    return None
