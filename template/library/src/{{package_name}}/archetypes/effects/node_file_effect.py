"""The file effect: reads, writes, lists and deletes files inside one root folder.

Paths are relative to `settings.file_root` (created at startup); absolute
paths, `..` and symlinks that resolve outside the root are refused with
PERMISSION_DENIED. Text travels in the given encoding, or as base64 with
`encoding="base64"` for bytes. Writes are atomic (temporary file, fsync,
`os.replace`); blocking I/O runs in a worker thread. Carries out `file.write` intents.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import codecs
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from ...core.errors import EnumCoreErrorCode, OnexError
from ...core.intents import ModelIntent
from ...core.metrics import monitor_performance
from ...core.nodes import NodeEffect

if TYPE_CHECKING:
    from ...core.container import OnexContainer

T = TypeVar("T")

#: The `encoding` under which content is base64 of raw bytes.
BASE64 = "base64"

_SEPARATORS = re.compile(r"[/\\]")
_NEW_FILE_MODE = 0o644


class EnumFileOperation(StrEnum):
    """What one `process` call does."""

    READ = "read"
    WRITE = "write"
    LIST = "list"
    DELETE = "delete"


class ModelFileInput(BaseModel):
    """One file operation inside the root folder."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: EnumFileOperation = Field(description="What to do.")
    path: str = Field(default=".", description="Path relative to the root (`/` separated); `.` is the root.")
    content: str = Field(default="", description="What `write` writes (base64 when `encoding` is `base64`).")
    encoding: str = Field(default="utf-8", min_length=1, description="Text encoding, or `base64` for raw bytes.")


class ModelFileEntry(BaseModel):
    """One entry of a listed folder."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="The entry's name.")
    path: str = Field(description="Its path relative to the root.")
    is_dir: bool = Field(description="Whether it is a folder.")
    size: int = Field(description="Size in bytes (0 for folders).")


class ModelFileOutput(BaseModel):
    """What an operation read, wrote or listed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: EnumFileOperation = Field(description="The operation that ran.")
    path: str = Field(description="The normalised path relative to the root.")
    content: str | None = Field(default=None, description="What `read` read.")
    entries: tuple[ModelFileEntry, ...] = Field(default=(), description="What `list` found, by name.")
    size: int | None = Field(default=None, description="Bytes written by `write`.")


def relative_path(path: str) -> PurePosixPath:
    """`path` as a clean relative path (`.` for the root).

    Raises:
        OnexError: PERMISSION_DENIED for absolute paths and `..`.
    """
    if "\x00" in path:
        raise OnexError("a path cannot contain NUL", code=EnumCoreErrorCode.VALIDATION_ERROR, details={"path": path})
    if path.startswith(("/", "\\")) or PureWindowsPath(path).anchor:
        raise OnexError(
            f"refused path {path!r}: it is absolute; paths are relative to the file root",
            code=EnumCoreErrorCode.PERMISSION_DENIED,
            details={"path": path},
        )
    parts = [part for part in _SEPARATORS.split(path) if part not in {"", "."}]
    if ".." in parts:
        raise OnexError(
            f"refused path {path!r}: '..' would leave the file root",
            code=EnumCoreErrorCode.PERMISSION_DENIED,
            details={"path": path},
        )
    return PurePosixPath(*parts)


def _locate(root: Path, relative: PurePosixPath, *, allow_root: bool) -> Path:
    """The path under `root`, refused when it (through symlinks) resolves outside."""
    target = root.joinpath(*relative.parts)
    try:
        resolved = target.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop, before Python 3.13
        raise OnexError(
            f"path {relative.as_posix()!r} cannot be resolved: {exc}",
            code=EnumCoreErrorCode.VALIDATION_ERROR,
            details={"path": relative.as_posix()},
        ) from exc
    if not resolved.is_relative_to(root):
        raise OnexError(
            f"refused path {relative.as_posix()!r}: a symlink leads outside the file root",
            code=EnumCoreErrorCode.PERMISSION_DENIED,
            details={"path": relative.as_posix()},
        )
    if target == root and not allow_root:
        raise OnexError(
            "the file root itself is not a file", code=EnumCoreErrorCode.VALIDATION_ERROR, details={"path": "."}
        )
    return target


@contextmanager
def _os_errors(operation: EnumFileOperation, path: str) -> Iterator[None]:
    """Map OS errors raised inside the block to `OnexError` codes."""
    details: dict[str, JsonValue] = {"operation": operation.value, "path": path}
    try:
        yield
    except FileNotFoundError as exc:
        raise OnexError(f"{operation} {path!r}: not found", code=EnumCoreErrorCode.NOT_FOUND, details=details) from exc
    except (IsADirectoryError, NotADirectoryError) as exc:
        raise OnexError(
            f"{operation} {path!r}: {exc.strerror}", code=EnumCoreErrorCode.VALIDATION_ERROR, details=details
        ) from exc
    except PermissionError as exc:
        raise OnexError(
            f"{operation} {path!r}: {exc.strerror}", code=EnumCoreErrorCode.PERMISSION_DENIED, details=details
        ) from exc
    except OSError as exc:
        raise OnexError(
            f"{operation} {path!r}: {exc}", code=EnumCoreErrorCode.OPERATION_FAILED, details=details
        ) from exc


def _check_encoding(encoding: str) -> None:
    if encoding == BASE64:
        return
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise OnexError(
            f"unknown encoding {encoding!r}", code=EnumCoreErrorCode.VALIDATION_ERROR, details={"encoding": encoding}
        ) from exc


def _encode(content: str, encoding: str) -> bytes:
    _check_encoding(encoding)
    try:
        if encoding == BASE64:
            return base64.b64decode(content, validate=True)
        return content.encode(encoding)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise OnexError(
            f"content cannot be encoded as {encoding}: {exc}",
            code=EnumCoreErrorCode.VALIDATION_ERROR,
            details={"encoding": encoding},
        ) from exc


def _read(target: Path, encoding: str) -> str:
    data = target.read_bytes()
    if encoding == BASE64:
        return base64.b64encode(data).decode("ascii")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise OnexError(
            f"the file is not valid {encoding}; read it with encoding='base64'",
            code=EnumCoreErrorCode.VALIDATION_ERROR,
            details={"encoding": encoding},
        ) from exc


def _write_atomically(target: Path, data: bytes) -> None:
    """Write a sibling temporary file, fsync it, then rename it over `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(target.stat().st_mode) if target.is_file() else _NEW_FILE_MODE
    descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.chmod(mode)
        temporary.replace(target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _list(target: Path, root: Path) -> tuple[ModelFileEntry, ...]:
    entries = ((child, child.lstat()) for child in sorted(target.iterdir()))
    return tuple(
        ModelFileEntry(
            name=child.name,
            path=child.relative_to(root).as_posix(),
            is_dir=stat.S_ISDIR(info.st_mode),
            size=info.st_size if stat.S_ISREG(info.st_mode) else 0,
        )
        for child, info in entries
    )


def _prepare_root(root: Path) -> Path:
    """Create the root folder; return its resolved path."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        return root.resolve(strict=True)
    except OSError as exc:
        raise OnexError(
            f"file root {str(root)!r} cannot be created: {exc}",
            code=EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE,
            details={"file_root": str(root)},
        ) from exc


def _check_root(root: Path) -> None:
    if not root.is_dir() or not os.access(root, os.W_OK):
        raise OnexError(
            f"file root {str(root)!r} is not a writable folder",
            code=EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE,
            details={"file_root": str(root)},
        )


class NodeFileEffect(NodeEffect[ModelFileInput, ModelFileOutput]):
    """Reads, writes, lists and deletes files inside one root folder."""

    node_name = "file"
    handled_intents = frozenset({"file.write"})

    def __init__(self, container: OnexContainer) -> None:
        """Prepare; the root folder is created in `startup`."""
        super().__init__(container)
        self._root: Path | None = None

    @property
    def root(self) -> Path:
        """The resolved root folder (after `startup`)."""
        return self.acquired(self._root, "root folder")

    async def on_startup(self) -> None:
        """Create `settings.file_root`."""
        root = self.settings.file_root
        self._root = await self.run_effect(lambda: asyncio.to_thread(_prepare_root, root))

    async def check_connectivity(self) -> None:
        """The root is a writable folder."""
        await asyncio.to_thread(_check_root, self.root)

    async def process(self, input_data: ModelFileInput) -> ModelFileOutput:
        """Run the operation `input_data` describes."""
        operation, path = input_data.operation, input_data.path
        normalised = relative_path(path).as_posix()
        match operation:
            case EnumFileOperation.READ:
                content = await self.read(path, encoding=input_data.encoding)
                return ModelFileOutput(operation=operation, path=normalised, content=content)
            case EnumFileOperation.WRITE:
                size = await self.write(path, input_data.content, encoding=input_data.encoding)
                return ModelFileOutput(operation=operation, path=normalised, size=size)
            case EnumFileOperation.LIST:
                entries = await self.list_dir(path)
                return ModelFileOutput(operation=operation, path=normalised, entries=entries)
            case EnumFileOperation.DELETE:
                await self.delete(path)
                return ModelFileOutput(operation=operation, path=normalised)

    @monitor_performance("file.read")
    async def read(self, path: str, *, encoding: str = "utf-8") -> str:
        """The content of the file at `path` (base64 with `encoding="base64"`)."""
        _check_encoding(encoding)
        return await self._in_thread(EnumFileOperation.READ, path, lambda target: _read(target, encoding))

    @monitor_performance("file.write")
    async def write(self, path: str, content: str, *, encoding: str = "utf-8") -> int:
        """Atomically replace the file at `path` (creating folders); return bytes written."""
        data = _encode(content, encoding)
        await self._in_thread(EnumFileOperation.WRITE, path, lambda target: _write_atomically(target, data))
        return len(data)

    @monitor_performance("file.list")
    async def list_dir(self, path: str = ".") -> tuple[ModelFileEntry, ...]:
        """The entries of the folder at `path`, by name (symlinks are not followed)."""
        root = self.root
        return await self._in_thread(EnumFileOperation.LIST, path, lambda target: _list(target, root), allow_root=True)

    @monitor_performance("file.delete")
    async def delete(self, path: str) -> None:
        """Delete the file at `path`."""
        await self._in_thread(EnumFileOperation.DELETE, path, Path.unlink)

    async def execute_intent(self, intent: ModelIntent) -> JsonValue:
        """Carry out `file.write`: target = path, payload = {content, encoding?}."""
        if intent.intent_type != "file.write":
            return await super().execute_intent(intent)
        content = intent.payload.get("content")
        encoding = intent.payload.get("encoding", "utf-8")
        if not isinstance(content, str) or not isinstance(encoding, str):
            raise OnexError(
                "a file.write intent needs payload.content (and optional payload.encoding) as strings",
                code=EnumCoreErrorCode.VALIDATION_ERROR,
                details={"path": intent.target},
            )
        size = await self.write(intent.target, content, encoding=encoding)
        return {"path": relative_path(intent.target).as_posix(), "size": size}

    async def _in_thread(
        self,
        operation: EnumFileOperation,
        path: str,
        function: Callable[[Path], T],
        *,
        allow_root: bool = False,
    ) -> T:
        """Locate `path` and run `function` on it in a worker thread, through the breaker."""
        self.require_running()
        root = self.root
        relative = relative_path(path)

        def work() -> T:
            with _os_errors(operation, relative.as_posix()):
                return function(_locate(root, relative, allow_root=allow_root))

        return await self.run_effect(lambda: asyncio.to_thread(work))
