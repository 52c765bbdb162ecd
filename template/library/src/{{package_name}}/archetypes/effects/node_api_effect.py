"""The API effect: HTTP calls to one base URL through httpx, with timeouts and retries.

The node never leaves `settings.api_base_url`: absolute URLs, `//host` paths and
paths that climb out of the base path (`..`, percent-encoded or not) are
refused with PERMISSION_DENIED before anything is sent, and redirects are not
followed. GET, HEAD, OPTIONS, PUT and DELETE are retried on 5xx, connection
errors and timeouts; POST and PATCH are sent once. Error statuses map to codes.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from ...core.errors import EnumCoreErrorCode, OnexError
from ...core.metrics import monitor_performance
from ...core.nodes import NodeEffect

if TYPE_CHECKING:
    from ...core.container import OnexContainer

#: A query parameter's value.
QueryValue = str | int | float | bool

_MAX_DECODING_ROUNDS = 4
_SEGMENT_SEPARATORS = re.compile(r"[/\\]")


class EnumHttpMethod(StrEnum):
    """HTTP methods the node sends."""

    GET = "GET"
    HEAD = "HEAD"
    OPTIONS = "OPTIONS"
    PUT = "PUT"
    DELETE = "DELETE"
    POST = "POST"
    PATCH = "PATCH"


#: Methods that are safe to repeat, hence retried.
IDEMPOTENT_METHODS = frozenset(
    {EnumHttpMethod.GET, EnumHttpMethod.HEAD, EnumHttpMethod.OPTIONS, EnumHttpMethod.PUT, EnumHttpMethod.DELETE}
)

#: Error statuses whose code is not the default (5xx: DEPENDENCY_UNAVAILABLE, 4xx: OPERATION_FAILED).
_STATUS_CODES: dict[int, EnumCoreErrorCode] = {
    400: EnumCoreErrorCode.VALIDATION_ERROR,
    401: EnumCoreErrorCode.PERMISSION_DENIED,
    403: EnumCoreErrorCode.PERMISSION_DENIED,
    404: EnumCoreErrorCode.NOT_FOUND,
    408: EnumCoreErrorCode.TIMEOUT,
    409: EnumCoreErrorCode.CONFLICT,
    410: EnumCoreErrorCode.NOT_FOUND,
    422: EnumCoreErrorCode.VALIDATION_ERROR,
    429: EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE,
    504: EnumCoreErrorCode.TIMEOUT,
}


class ModelApiInput(BaseModel):
    """One HTTP request, relative to the base URL."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: EnumHttpMethod = Field(default=EnumHttpMethod.GET, description="The HTTP method.")
    path: str = Field(default="/", description="Path under the base URL, e.g. `/users/42`; no query string.")
    query: dict[str, QueryValue | list[QueryValue]] = Field(default_factory=dict, description="Query parameters.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers (not `Host`).")
    json_body: JsonValue = Field(default=None, description="JSON request body; None sends no body.")
    timeout_seconds: float | None = Field(
        default=None, gt=0, description="Timeout of this call; None uses `settings.api_timeout_seconds`."
    )


class ModelApiOutput(BaseModel):
    """A response with a success or redirect status."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status_code: int = Field(description="The HTTP status code.")
    headers: dict[str, str] = Field(description="Response headers (repeated ones joined with commas).")
    json_body: JsonValue = Field(default=None, description="The body, when it is JSON.")
    text: str | None = Field(default=None, description="The body as text, when it is not JSON.")


def check_relative_path(path: str) -> None:
    """Refuse a path that could leave the base URL.

    Raises:
        OnexError: PERMISSION_DENIED naming the reason.
    """
    reason = _escape_reason(path)
    if reason is not None:
        raise OnexError(
            f"refused path {path!r}: {reason}",
            code=EnumCoreErrorCode.PERMISSION_DENIED,
            details={"path": path, "reason": reason},
        )


def _escape_reason(path: str) -> str | None:
    if not path.isprintable():
        return "it contains a control character"
    decoded = path
    for _ in range(_MAX_DECODING_ROUNDS):  # undo nested encodings such as %252e
        decoded, previous = unquote(decoded), decoded
        if decoded == previous:
            break
    else:
        return "it is percent-encoded too many times"
    parts = urlsplit(decoded)
    if decoded.startswith(("//", "\\\\", "/\\", "\\/")) or parts.scheme or parts.netloc:
        return "it is an absolute URL; only paths under the base URL are allowed"
    if ".." in _SEGMENT_SEPARATORS.split(decoded):
        return "it climbs out of the base path with '..'"
    return None


def _error_code(status_code: int) -> EnumCoreErrorCode:
    if status_code in _STATUS_CODES:
        return _STATUS_CODES[status_code]
    if status_code >= httpx.codes.INTERNAL_SERVER_ERROR:
        return EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE
    return EnumCoreErrorCode.OPERATION_FAILED


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


class NodeApiEffect(NodeEffect[ModelApiInput, ModelApiOutput]):
    """HTTP calls confined to one base URL, with timeouts and retries."""

    node_name = "api"
    health_critical = False

    def __init__(self, container: OnexContainer) -> None:
        """Prepare; the HTTP client opens in `startup`."""
        super().__init__(container)
        self._client: httpx.AsyncClient | None = None

    async def on_initialize(self) -> None:
        """Check that `settings.api_base_url` is an http(s) URL with a host."""
        url = self.settings.api_base_url
        try:
            base = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise OnexError(
                f"api_base_url {url!r} is not a URL: {exc}",
                code=EnumCoreErrorCode.CONFIGURATION_ERROR,
                details={"api_base_url": url},
            ) from exc
        if base.scheme not in {"http", "https"} or not base.host or base.query or base.fragment:
            raise OnexError(
                f"api_base_url {url!r} must be http(s)://host[:port][/path], without query or fragment",
                code=EnumCoreErrorCode.CONFIGURATION_ERROR,
                details={"api_base_url": url},
            )

    async def on_startup(self) -> None:
        """Open the HTTP client (connection pool)."""
        self._client = httpx.AsyncClient(
            base_url=self.settings.api_base_url,
            timeout=httpx.Timeout(self.settings.api_timeout_seconds),
            follow_redirects=False,
        )

    async def on_shutdown(self) -> None:
        """Close the HTTP client."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def check_connectivity(self) -> None:
        """GET `settings.api_health_path` when it is set; any error status fails."""
        if self.settings.api_health_path is not None:
            request = self._build_request(ModelApiInput(path=self.settings.api_health_path))
            await self._send(request)

    @monitor_performance("api.request")
    async def process(self, input_data: ModelApiInput) -> ModelApiOutput:
        """Send the request; retry it only if its method is idempotent."""
        self.require_running()
        request = self._build_request(input_data)
        retry = input_data.method in IDEMPOTENT_METHODS
        return await self.run_effect(lambda: self._send(request), retry=retry)

    async def get(self, path: str, *, query: dict[str, QueryValue | list[QueryValue]] | None = None) -> ModelApiOutput:
        """GET `path` (retried on transient failures)."""
        return await self.process(ModelApiInput(method=EnumHttpMethod.GET, path=path, query=query or {}))

    async def post(self, path: str, json_body: JsonValue) -> ModelApiOutput:
        """POST `json_body` to `path` (sent once)."""
        return await self.process(ModelApiInput(method=EnumHttpMethod.POST, path=path, json_body=json_body))

    def _build_request(self, data: ModelApiInput) -> httpx.Request:
        """The request for `data`, checked to stay under the base URL."""
        client = self._require_client()
        check_relative_path(data.path)
        if "?" in data.path or "#" in data.path:
            raise OnexError(
                "put query parameters in `query`, not in the path; fragments are not sent",
                code=EnumCoreErrorCode.VALIDATION_ERROR,
                details={"path": data.path},
            )
        if any(name.lower() == "host" for name in data.headers):
            raise OnexError(
                "the Host header is set by the base URL",
                code=EnumCoreErrorCode.PERMISSION_DENIED,
                details={"path": data.path},
            )
        if any(char in item for header in data.headers.items() for item in header for char in "\r\n\x00"):
            raise OnexError(
                "header names and values cannot contain line breaks or NUL",
                code=EnumCoreErrorCode.VALIDATION_ERROR,
                details={"path": data.path},
            )
        request = client.build_request(
            data.method.value,
            data.path,
            params=data.query or None,
            headers=data.headers,
            json=data.json_body,
            timeout=data.timeout_seconds if data.timeout_seconds is not None else httpx.USE_CLIENT_DEFAULT,
        )
        base, url = client.base_url, request.url
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port) or not url.path.startswith(
            base.path
        ):
            raise OnexError(
                f"refused path {data.path!r}: it resolves outside the base URL",
                code=EnumCoreErrorCode.PERMISSION_DENIED,
                details={"path": data.path},
            )
        return request

    async def _send(self, request: httpx.Request) -> ModelApiOutput:
        """Send once; map transport failures and error statuses to `OnexError`."""
        details: dict[str, JsonValue] = {"method": request.method, "path": request.url.path}
        try:
            response = await self._require_client().send(request)
        except httpx.TimeoutException as exc:
            raise OnexError(
                f"{request.method} {request.url.path} timed out", code=EnumCoreErrorCode.TIMEOUT, details=details
            ) from exc
        except httpx.TransportError as exc:
            raise OnexError(
                f"{request.method} {request.url.path} failed: {exc}",
                code=EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE,
                details=details,
            ) from exc
        except httpx.RequestError as exc:
            raise OnexError(
                f"{request.method} {request.url.path} failed: {exc}",
                code=EnumCoreErrorCode.OPERATION_FAILED,
                details=details,
            ) from exc
        if response.is_error:
            raise OnexError(
                f"{request.method} {request.url.path} answered {response.status_code} {response.reason_phrase}",
                code=_error_code(response.status_code),
                details={**details, "status_code": response.status_code},
            )
        return _output(response)

    def _require_client(self) -> httpx.AsyncClient:
        return self.acquired(self._client, "HTTP client")


def _output(response: httpx.Response) -> ModelApiOutput:
    headers = dict(response.headers.items())
    if _is_json(response.headers.get("content-type", "")) and response.content:
        try:
            body = response.json()
        except ValueError:
            return ModelApiOutput(status_code=response.status_code, headers=headers, text=response.text)
        return ModelApiOutput(status_code=response.status_code, headers=headers, json_body=body)
    return ModelApiOutput(status_code=response.status_code, headers=headers, text=response.text)
