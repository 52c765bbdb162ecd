"""The hashing node: content digests, and password hashes that are slow on purpose.

Content: BLAKE3 or SHA-256 hex digests of text (UTF-8) or base64-encoded bytes.
Passwords: scrypt (stdlib; the default) or argon2id, salted at random and stored as
self-describing strings (`$scrypt$ln=17,r=8,p=1$<salt>$<hash>`, argon2's PHC string),
so verification and `needs_rehash` read the parameters back. An optional pepper
(`password_pepper`) is mixed in with HMAC-SHA-256. Passwords arrive as `SecretStr`
and never appear in outputs or errors; hashing runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import TypeVar

from argon2 import Parameters, PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import ARGON2_VERSION
from blake3 import blake3
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from ...core.errors import EnumCoreErrorCode, OnexError
from ...core.metrics import monitor_performance
from ...core.nodes import NodeCompute

T = TypeVar("T")

#: Random salt and derived key sizes of new password hashes, in bytes.
SALT_BYTES = 16
KEY_BYTES = 32
#: scrypt block size and parallelism (OWASP: r=8, p=1); the cost N comes from settings.
SCRYPT_BLOCK_SIZE = 8
SCRYPT_PARALLELISM = 1
#: Stored scrypt hashes asking for more memory than this are refused, not computed.
SCRYPT_MAX_MEMORY = 2 << 30
#: Content larger than this is digested in a worker thread.
INLINE_DIGEST_BYTES = 1 << 20

_SCRYPT_HASH = re.compile(
    r"^\$scrypt\$ln=(?P<ln>[1-9][0-9]?),r=(?P<r>[1-9][0-9]{0,3}),p=(?P<p>[1-9][0-9]{0,3})"
    r"\$(?P<salt>[A-Za-z0-9+/]+)\$(?P<key>[A-Za-z0-9+/]+)$"
)


class EnumHashingOperation(StrEnum):
    """What the node is asked to do: `digest` is for content; the others are for passwords."""

    DIGEST = "digest"
    HASH = "hash"
    VERIFY = "verify"
    NEEDS_REHASH = "needs_rehash"


class EnumDigestAlgorithm(StrEnum):
    """Fast hashes, for content (never for passwords)."""

    BLAKE3 = "blake3"
    SHA256 = "sha256"


class EnumPasswordAlgorithm(StrEnum):
    """Slow, salted, memory-hard hashes, for passwords."""

    SCRYPT = "scrypt"
    ARGON2 = "argon2"


class EnumContentEncoding(StrEnum):
    """How `data` carries the content."""

    TEXT = "text"
    BASE64 = "base64"


class ModelHashingInput(BaseModel):
    """One hashing operation and what it needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: EnumHashingOperation = Field(description="The operation to run.")
    data: str | None = Field(default=None, description="Content to digest (digest).")
    encoding: EnumContentEncoding = Field(
        default=EnumContentEncoding.TEXT, description="`text` (hashed as UTF-8) or standard `base64` bytes."
    )
    digest_algorithm: EnumDigestAlgorithm = Field(default=EnumDigestAlgorithm.BLAKE3, description="Content hash.")
    password: SecretStr | None = Field(default=None, description="The password (hash, verify).")
    password_algorithm: EnumPasswordAlgorithm | None = Field(
        default=None, description="Algorithm of a new password hash; None for `settings.password_hash_algorithm`."
    )
    stored_hash: str | None = Field(default=None, description="An encoded hash from `hash` (verify, needs_rehash).")


class ModelHashingOutput(BaseModel):
    """The operation's result; fields that do not apply to it are None."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: EnumHashingOperation = Field(description="The operation that ran.")
    algorithm: EnumDigestAlgorithm | EnumPasswordAlgorithm = Field(description="The algorithm used.")
    digest: str | None = Field(default=None, description="Lower-case hex digest (digest).")
    encoded_hash: str | None = Field(default=None, description="The self-describing hash to store (hash).")
    verified: bool | None = Field(default=None, description="Whether the password matches (verify).")
    needs_rehash: bool | None = Field(
        default=None, description="Whether the stored hash is weaker than current settings (verify, needs_rehash)."
    )


@dataclass(frozen=True)
class _ScryptParams:
    """scrypt's cost parameters: N = 2**log2_n, block size r, parallelism p."""

    log2_n: int
    block_size: int = SCRYPT_BLOCK_SIZE
    parallelism: int = SCRYPT_PARALLELISM

    @property
    def memory(self) -> int:
        """Bytes scrypt needs with these parameters (OpenSSL's accounting)."""
        return 128 * self.block_size * ((1 << self.log2_n) + self.parallelism + 2)

    def weaker_than(self, other: _ScryptParams) -> bool:
        """Whether any cost parameter is below `other`'s."""
        return self.log2_n < other.log2_n or self.block_size < other.block_size or self.parallelism < other.parallelism

    def derive(self, secret: bytes, salt: bytes, length: int = KEY_BYTES) -> bytes:
        """The key derived from `secret` and `salt` (CPU- and memory-heavy: call it in a thread)."""
        return hashlib.scrypt(
            secret,
            salt=salt,
            n=1 << self.log2_n,
            r=self.block_size,
            p=self.parallelism,
            maxmem=self.memory,
            dklen=length,
        )


@dataclass(frozen=True)
class _ScryptHash:
    """A stored scrypt hash: parameters, salt and derived key."""

    params: _ScryptParams
    salt: bytes
    key: bytes

    def encode(self) -> str:
        """`$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<key>`, base64 without padding (PHC style)."""
        p = self.params
        return (
            f"$scrypt$ln={p.log2_n},r={p.block_size},p={p.parallelism}${_b64encode(self.salt)}${_b64encode(self.key)}"
        )


class NodeHashingCompute(NodeCompute[ModelHashingInput, ModelHashingOutput]):
    """BLAKE3/SHA-256 content digests; scrypt/argon2 password hashing and verification."""

    node_name = "hashing"

    async def on_initialize(self) -> None:
        """Refuse argon2 settings the algorithm cannot run."""
        settings = self.settings
        if settings.password_argon2_memory_kib < 8 * settings.password_argon2_parallelism:
            raise OnexError(
                "password_argon2_memory_kib must be at least 8 KiB per lane (password_argon2_parallelism)",
                code=EnumCoreErrorCode.CONFIGURATION_ERROR,
                details={
                    "password_argon2_memory_kib": settings.password_argon2_memory_kib,
                    "password_argon2_parallelism": settings.password_argon2_parallelism,
                },
            )

    @property
    def default_password_algorithm(self) -> EnumPasswordAlgorithm:
        """The algorithm of new password hashes (`settings.password_hash_algorithm`)."""
        return EnumPasswordAlgorithm(self.settings.password_hash_algorithm)

    async def process(self, input_data: ModelHashingInput) -> ModelHashingOutput:
        """Run `input_data.operation`; missing arguments raise `OnexError(VALIDATION_ERROR)`."""
        operation = input_data.operation
        match operation:
            case EnumHashingOperation.DIGEST:
                data = _required(input_data.data, "data", operation)
                content = _decode_content(data, input_data.encoding)
                algorithm = input_data.digest_algorithm
                digest = await self.digest(content, algorithm)
                return ModelHashingOutput(operation=operation, algorithm=algorithm, digest=digest)
            case EnumHashingOperation.HASH:
                password = _required(input_data.password, "password", operation)
                chosen = input_data.password_algorithm or self.default_password_algorithm
                encoded = await self.hash_password(password, chosen)
                return ModelHashingOutput(operation=operation, algorithm=chosen, encoded_hash=encoded)
            case EnumHashingOperation.VERIFY:
                password = _required(input_data.password, "password", operation)
                stored = _required(input_data.stored_hash, "stored_hash", operation)
                verified = await self.verify_password(password, stored)
                return ModelHashingOutput(
                    operation=operation,
                    algorithm=_algorithm_of(stored),
                    verified=verified,
                    needs_rehash=self.needs_rehash(stored),
                )
            case EnumHashingOperation.NEEDS_REHASH:
                stored = _required(input_data.stored_hash, "stored_hash", operation)
                return ModelHashingOutput(
                    operation=operation, algorithm=_algorithm_of(stored), needs_rehash=self.needs_rehash(stored)
                )

    @monitor_performance("hashing.digest")
    async def digest(self, content: str | bytes, algorithm: EnumDigestAlgorithm = EnumDigestAlgorithm.BLAKE3) -> str:
        """The lower-case hex digest of `content` (text is hashed as UTF-8)."""
        data = content.encode() if isinstance(content, str) else content
        if len(data) > INLINE_DIGEST_BYTES:
            return await asyncio.to_thread(_hexdigest, data, algorithm)
        return _hexdigest(data, algorithm)

    @monitor_performance("hashing.hash_password")
    async def hash_password(self, password: SecretStr, algorithm: EnumPasswordAlgorithm | None = None) -> str:
        """A new salted hash of `password`, self-describing, to store as is."""
        secret = self._peppered(password)
        if (algorithm or self.default_password_algorithm) is EnumPasswordAlgorithm.ARGON2:
            return await asyncio.to_thread(self._argon2.hash, secret)
        params, salt = self._scrypt_params, secrets.token_bytes(SALT_BYTES)
        key = await asyncio.to_thread(params.derive, secret, salt)
        return _ScryptHash(params, salt, key).encode()

    @monitor_performance("hashing.verify_password")
    async def verify_password(self, password: SecretStr, stored_hash: str) -> bool:
        """Whether `password` matches `stored_hash`, compared in constant time.

        Raises:
            OnexError: VALIDATION_ERROR when `stored_hash` is not a hash this node can read.
        """
        secret = self._peppered(password)
        if _algorithm_of(stored_hash) is EnumPasswordAlgorithm.ARGON2:
            return await asyncio.to_thread(_argon2_verify, self._argon2, stored_hash, secret)
        parsed = _parse_scrypt(stored_hash)
        try:
            candidate = await asyncio.to_thread(parsed.params.derive, secret, parsed.salt, len(parsed.key))
        except ValueError as exc:
            raise _malformed(EnumPasswordAlgorithm.SCRYPT, "parameters scrypt refuses") from exc
        return hmac.compare_digest(candidate, parsed.key)

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether `stored_hash` should be replaced after the next successful login.

        True when it uses another algorithm than new hashes do, or any cost
        parameter, salt or key length below the current settings.
        """
        algorithm = _algorithm_of(stored_hash)
        if algorithm is not self.default_password_algorithm:
            return True
        if algorithm is EnumPasswordAlgorithm.ARGON2:
            stored = _argon2_parameters(stored_hash)
            current = self._argon2
            return (
                stored.type is not Type.ID
                or stored.version < ARGON2_VERSION
                or stored.time_cost < current.time_cost
                or stored.memory_cost < current.memory_cost
                or stored.salt_len < SALT_BYTES
                or stored.hash_len < KEY_BYTES
            )
        parsed = _parse_scrypt(stored_hash)
        return (
            parsed.params.weaker_than(self._scrypt_params)
            or len(parsed.salt) < SALT_BYTES
            or len(parsed.key) < KEY_BYTES
        )

    def _peppered(self, password: SecretStr) -> bytes:
        """The bytes that are hashed: the password, or its HMAC-SHA-256 under the pepper."""
        secret = password.get_secret_value().encode()
        pepper = self.settings.password_pepper
        if pepper is None:
            return secret
        return hmac.new(pepper.get_secret_value().encode(), secret, hashlib.sha256).digest()

    @cached_property
    def _argon2(self) -> PasswordHasher:
        settings = self.settings
        return PasswordHasher(
            time_cost=settings.password_argon2_time_cost,
            memory_cost=settings.password_argon2_memory_kib,
            parallelism=settings.password_argon2_parallelism,
            hash_len=KEY_BYTES,
            salt_len=SALT_BYTES,
            type=Type.ID,
        )

    @property
    def _scrypt_params(self) -> _ScryptParams:
        return _ScryptParams(self.settings.password_scrypt_log2_n)


def _required(value: T | None, name: str, operation: EnumHashingOperation) -> T:
    if value is None:
        raise OnexError(
            f"{operation} needs `{name}`",
            code=EnumCoreErrorCode.VALIDATION_ERROR,
            details={"operation": operation.value, "field": name},
        )
    return value


def _decode_content(data: str, encoding: EnumContentEncoding) -> bytes:
    if encoding is EnumContentEncoding.TEXT:
        return data.encode()
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error as exc:
        raise OnexError(
            "data is not valid base64",
            code=EnumCoreErrorCode.VALIDATION_ERROR,
            details={"field": "data", "encoding": encoding.value},
        ) from exc


def _hexdigest(data: bytes, algorithm: EnumDigestAlgorithm) -> str:
    if algorithm is EnumDigestAlgorithm.BLAKE3:
        return blake3(data).hexdigest()
    return hashlib.sha256(data).hexdigest()


def _algorithm_of(stored_hash: str) -> EnumPasswordAlgorithm:
    if stored_hash.startswith("$scrypt$"):
        return EnumPasswordAlgorithm.SCRYPT
    if stored_hash.startswith("$argon2"):
        return EnumPasswordAlgorithm.ARGON2
    raise OnexError(
        "stored hash is neither a $scrypt$ nor an $argon2 hash",
        code=EnumCoreErrorCode.VALIDATION_ERROR,
        details={"field": "stored_hash"},
    )


def _malformed(algorithm: EnumPasswordAlgorithm, reason: str) -> OnexError:
    """The error for an unreadable stored hash; it never quotes the hash."""
    return OnexError(
        f"stored {algorithm} hash is malformed: {reason}",
        code=EnumCoreErrorCode.VALIDATION_ERROR,
        details={"field": "stored_hash", "algorithm": algorithm.value, "reason": reason},
    )


def _parse_scrypt(stored_hash: str) -> _ScryptHash:
    match = _SCRYPT_HASH.match(stored_hash)
    if match is None:
        raise _malformed(EnumPasswordAlgorithm.SCRYPT, "expected $scrypt$ln=<n>,r=<r>,p=<p>$<salt>$<hash>")
    try:
        salt, key = _b64decode(match["salt"]), _b64decode(match["key"])
    except binascii.Error as exc:
        raise _malformed(EnumPasswordAlgorithm.SCRYPT, "salt or hash is not base64") from exc
    parsed = _ScryptHash(_ScryptParams(int(match["ln"]), int(match["r"]), int(match["p"])), salt, key)
    if parsed.params.memory > SCRYPT_MAX_MEMORY:
        raise _malformed(EnumPasswordAlgorithm.SCRYPT, f"parameters need more than {SCRYPT_MAX_MEMORY >> 30} GiB")
    return parsed


def _argon2_parameters(stored_hash: str) -> Parameters:
    try:
        return extract_parameters(stored_hash)
    except InvalidHashError as exc:
        raise _malformed(EnumPasswordAlgorithm.ARGON2, "not a PHC argon2 string") from exc


def _argon2_verify(hasher: PasswordHasher, stored_hash: str, secret: bytes) -> bool:
    try:
        return hasher.verify(stored_hash, secret)
    except VerifyMismatchError:
        return False
    except (VerificationError, InvalidHashError) as exc:
        raise _malformed(EnumPasswordAlgorithm.ARGON2, "it cannot be decoded") from exc


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
