"""An OpenAI-compatible chat-completions client with a timeout. The caller passes the guard it
runs each call under (the use case passes the shared "llm" rate limit and circuit breaker,
`external_call`, state in Redis: one breaker for every worker).

The breaker counts transport failures, timeouts and non-2xx answers; a well-formed HTTP answer
with an unusable body is the model's fault, not the service's, and does not count. While the
breaker is open no call is made and `LLMError("breaker_open")` says so at once, for the caller
to fall back. Over the rate limit, `CallDeferred` goes up to TrackedTask, which sends the task
back for when a slot frees (no attempt used).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal

import httpx

from backend.core.errors import BreakerOpen, LLMError
from backend.core.settings import settings

LLM_SERVICE = "llm"

FailureReason = Literal["timeout", "unavailable", "http_error", "breaker_open", "bad_response"]


class _HTTPStatusFailure(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"LLM answered HTTP {status_code}")
        self.status_code = status_code


class LLMClient:
    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None,
        timeout_s: float,
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/chat/completions"
        self.model = model
        self.timeout = httpx.Timeout(timeout_s)
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    @classmethod
    def from_settings(cls) -> LLMClient:
        return cls(
            base_url=settings.llm.url,
            model=settings.llm.model,
            api_key=settings.llm.api_key,
            timeout_s=settings.llm.timeout_s,
        )

    def chat_json(
        self,
        messages: Sequence[dict[str, str]],
        *,
        guard: Callable[[], AbstractContextManager[object]] = nullcontext,
    ) -> Any:
        """POST the messages asking for a JSON object; returns the decoded response body.

        The POST runs inside `guard()`: an exception raised in it counts as the service's
        failure, and a `BreakerOpen` from it becomes `LLMError("breaker_open")`."""
        body = {
            "model": self.model,
            "messages": list(messages),
            "temperature": 0,
            "response_format": {"type": "json_object"},
        }
        try:
            with guard():
                response = self._post(body)
        except BreakerOpen:
            raise LLMError("breaker_open", "LLM circuit breaker is open") from None
        except httpx.TimeoutException:
            raise LLMError("timeout", f"LLM did not answer within {self.timeout.read}s") from None
        except _HTTPStatusFailure as exc:
            raise LLMError("http_error", str(exc)) from None
        except httpx.HTTPError as exc:
            raise LLMError("unavailable", f"LLM unreachable ({type(exc).__name__})") from None
        try:
            return response.json()
        except ValueError:
            raise LLMError("bad_response", "LLM response body is not JSON") from None

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        with httpx.Client(timeout=self.timeout) as client:
            response = client.post(self.url, json=body, headers=self.headers)
        if not response.is_success:
            raise _HTTPStatusFailure(response.status_code)
        return response
