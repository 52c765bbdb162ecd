"""The LLM node: text generation through Ollama's `POST /api/generate`, with a response cache.

One read-only HTTP call per generation (`stream: false`) to `settings.llm_base_url`,
with `settings.llm_timeout_seconds` and `settings.llm_model` as the default model.
Answers are kept in a bounded LRU cache (`settings.llm_cache_size`) keyed by model,
prompt, system prompt and canonical-JSON options, so a repeated request is answered
without a call and says so (`cached=True`). Unreachable or failing servers map to
DEPENDENCY_UNAVAILABLE or TIMEOUT, an unknown model to NOT_FOUND. Health is not critical.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import TYPE_CHECKING

import httpx
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from ...core.errors import EnumCoreErrorCode, OnexError
from ...core.metrics import monitor_performance
from ...core.nodes import NodeCompute

if TYPE_CHECKING:
    from ...core.container import OnexContainer

GENERATE_PATH = "/api/generate"
TAGS_PATH = "/api/tags"


class ModelLlmInput(BaseModel):
    """One generation request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str = Field(min_length=1, description="The prompt.")
    model: str | None = Field(default=None, description="Ollama model; None for `settings.llm_model`.")
    system: str | None = Field(default=None, description="System prompt, overriding the model's own.")
    options: dict[str, JsonValue] = Field(
        default_factory=dict, description="Ollama model options, e.g. `temperature`, `seed`, `num_predict`."
    )
    use_cache: bool = Field(default=True, description="Answer from, and store into, the response cache.")


class ModelLlmOutput(BaseModel):
    """The generated text and what Ollama reported about it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(description="The generated text (Ollama's `response`).")
    model: str = Field(description="The model that answered.")
    done: bool = Field(description="Whether generation finished.")
    done_reason: str | None = Field(default=None, description="Why it finished, e.g. `stop` or `length`.")
    prompt_tokens: int | None = Field(default=None, description="Tokens in the prompt (`prompt_eval_count`).")
    completion_tokens: int | None = Field(default=None, description="Tokens generated (`eval_count`).")
    total_duration_ns: int | None = Field(default=None, description="Ollama's `total_duration`, in nanoseconds.")
    cached: bool = Field(default=False, description="Whether this answer came from the cache, without a call.")


class ModelOllamaGenerateResponse(BaseModel):
    """The fields of Ollama's non-streamed `/api/generate` answer that the node reads."""

    # Ollama's answer is not our contract: it carries more fields (context, durations) and may add some.
    model_config = ConfigDict(frozen=True, extra="ignore")

    model: str = Field(description="The model that answered.")
    response: str = Field(description="The generated text.")
    done: bool = Field(description="Whether generation finished.")
    done_reason: str | None = Field(default=None, description="Why generation stopped.")
    prompt_eval_count: int | None = Field(default=None, description="Tokens in the prompt.")
    eval_count: int | None = Field(default=None, description="Tokens generated.")
    total_duration: int | None = Field(default=None, description="Time spent on the request, in nanoseconds.")


class LlmResponseCache:
    """A bounded least-recently-used map from request keys to answers; size 0 disables it."""

    def __init__(self, max_size: int) -> None:
        """Keep at most `max_size` answers."""
        self.max_size = max_size
        self._entries: OrderedDict[str, ModelLlmOutput] = OrderedDict()

    def __len__(self) -> int:
        """Answers held."""
        return len(self._entries)

    def get(self, key: str) -> ModelLlmOutput | None:
        """The answer stored under `key`, now the most recently used; None on a miss."""
        answer = self._entries.get(key)
        if answer is not None:
            self._entries.move_to_end(key)
        return answer

    def put(self, key: str, answer: ModelLlmOutput) -> None:
        """Store `answer`, evicting the least recently used one when full."""
        if self.max_size == 0:
            return
        self._entries[key] = answer
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    @staticmethod
    def key(model: str, request: ModelLlmInput) -> str:
        """A digest of everything that shapes the answer: model, prompt, system prompt, options."""
        canonical = json.dumps(
            [model, request.prompt, request.system, request.options],
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


class NodeLlmCompute(NodeCompute[ModelLlmInput, ModelLlmOutput]):
    """Text generation through Ollama, with a bounded response cache."""

    node_name = "llm"
    health_critical = False

    def __init__(self, container: OnexContainer) -> None:
        """Size the cache; the HTTP client is opened at startup."""
        super().__init__(container)
        self.cache = LlmResponseCache(container.settings.llm_cache_size)
        self._client: httpx.AsyncClient | None = None

    async def on_startup(self) -> None:
        """Open the HTTP client (no call yet: a missing Ollama only degrades health)."""
        self._client = httpx.AsyncClient(
            base_url=self.settings.llm_base_url, timeout=httpx.Timeout(self.settings.llm_timeout_seconds)
        )

    async def on_shutdown(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def health_check(self) -> None:
        """Running, and Ollama lists its models (`GET /api/tags`)."""
        await self._send("GET", TAGS_PATH, timeout_seconds=self.settings.health_check_timeout_seconds)

    async def process(self, input_data: ModelLlmInput) -> ModelLlmOutput:
        """Generate; see `generate`."""
        return await self.generate(input_data)

    @monitor_performance("llm.generate")
    async def generate(self, input_data: ModelLlmInput) -> ModelLlmOutput:
        """The model's answer to the prompt, from the cache when the same request was answered before.

        Raises:
            OnexError: DEPENDENCY_UNAVAILABLE or TIMEOUT when Ollama cannot answer, NOT_FOUND for
                an unknown model, VALIDATION_ERROR when Ollama refuses the request.
        """
        model = input_data.model or self.settings.llm_model
        key = LlmResponseCache.key(model, input_data)
        if input_data.use_cache and (hit := self.cache.get(key)) is not None:
            return hit.model_copy(update={"cached": True})
        body: dict[str, JsonValue] = {"model": model, "prompt": input_data.prompt, "stream": False}
        if input_data.system is not None:
            body["system"] = input_data.system
        if input_data.options:
            body["options"] = input_data.options
        response = await self._send("POST", GENERATE_PATH, body=body)
        try:
            answer = ModelOllamaGenerateResponse.model_validate_json(response.content)
        except ValidationError as exc:
            raise OnexError(
                "Ollama's answer is not a /api/generate response",
                code=EnumCoreErrorCode.OPERATION_FAILED,
                details={"path": GENERATE_PATH, "model": model},
            ) from exc
        output = ModelLlmOutput(
            text=answer.response,
            model=answer.model,
            done=answer.done,
            done_reason=answer.done_reason,
            prompt_tokens=answer.prompt_eval_count,
            completion_tokens=answer.eval_count,
            total_duration_ns=answer.total_duration,
        )
        if input_data.use_cache and answer.done:
            self.cache.put(key, output)
        return output

    async def _send(
        self, method: str, path: str, *, body: JsonValue = None, timeout_seconds: float | None = None
    ) -> httpx.Response:
        """One request to Ollama, with transport failures and error statuses mapped to codes."""
        self.require_running()
        client = self.acquired(self._client, "HTTP client")
        details: dict[str, JsonValue] = {"url": f"{self.settings.llm_base_url}{path}"}
        timeout = client.timeout if timeout_seconds is None else httpx.Timeout(timeout_seconds)
        try:
            response = await client.request(method, path, json=body, timeout=timeout)
        except httpx.TimeoutException as exc:
            raise OnexError(
                f"Ollama did not answer {method} {path} in time", code=EnumCoreErrorCode.TIMEOUT, details=details
            ) from exc
        except httpx.TransportError as exc:
            raise OnexError(
                f"Ollama is unreachable: {exc}", code=EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE, details=details
            ) from exc
        if response.is_success:
            return response
        details |= {"status": response.status_code, "error": _error_text(response)}
        message = f"Ollama answered {response.status_code} to {method} {path}: {details['error']}"
        if response.status_code == httpx.codes.NOT_FOUND:
            raise OnexError(message, code=EnumCoreErrorCode.NOT_FOUND, details=details)
        if response.is_server_error:
            raise OnexError(message, code=EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE, details=details)
        if response.status_code == httpx.codes.BAD_REQUEST:
            raise OnexError(message, code=EnumCoreErrorCode.VALIDATION_ERROR, details=details)
        raise OnexError(message, code=EnumCoreErrorCode.OPERATION_FAILED, details=details)


def _error_text(response: httpx.Response) -> str:
    """Ollama's `{"error": "..."}` message, or the start of the body."""
    try:
        payload = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        return str(payload["error"])
    return response.text[:200]
