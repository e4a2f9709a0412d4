"""An OpenAI-compatible chat-completions client with a timeout and a circuit breaker.

The breaker (pybreaker) counts transport failures, timeouts and non-2xx answers; after
`LLM_BREAKER_FAIL_MAX` in a row it opens for `LLM_BREAKER_RESET_S` and calls fail at once.
It lives in this worker process only: a breaker shared by all workers through Redis comes
with the shared circuit-breaker service (later issue). A well-formed HTTP answer with an
unusable body is the model's fault, not the service's, and does not count.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal

import httpx
import pybreaker

from backend.config import settings

FailureReason = Literal["timeout", "unavailable", "http_error", "breaker_open", "bad_response"]


class LLMError(Exception):
    """The model could not be asked; `reason` is a short code safe for logs and results."""

    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class _HTTPStatusFailure(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"LLM answered HTTP {status_code}")
        self.status_code = status_code


def new_breaker(*, fail_max: int, reset_timeout_s: float) -> pybreaker.CircuitBreaker:
    return pybreaker.CircuitBreaker(
        fail_max=fail_max,
        reset_timeout=reset_timeout_s,
        name="llm",
        # The call that trips the breaker reports its own error (a timeout stays a timeout).
        throw_new_error_on_trip=False,
    )


@lru_cache(maxsize=1)
def process_breaker() -> pybreaker.CircuitBreaker:
    return new_breaker(
        fail_max=settings.llm_breaker_fail_max, reset_timeout_s=settings.llm_breaker_reset_s
    )


class LLMClient:
    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None,
        timeout_s: float,
        breaker: pybreaker.CircuitBreaker,
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/chat/completions"
        self.model = model
        self.timeout = httpx.Timeout(timeout_s)
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.breaker = breaker

    @classmethod
    def from_settings(cls) -> LLMClient:
        return cls(
            base_url=settings.llm_url,
            model=settings.llm_model,
            api_key=settings.llm_api_key,
            timeout_s=settings.llm_timeout_s,
            breaker=process_breaker(),
        )

    def chat_json(self, messages: Sequence[dict[str, str]]) -> Any:
        """POST the messages asking for a JSON object; returns the decoded response body."""
        body = {
            "model": self.model,
            "messages": list(messages),
            "temperature": 0,
            "response_format": {"type": "json_object"},
        }
        try:
            response: httpx.Response = self.breaker.call(self._post, body)
        except pybreaker.CircuitBreakerError:
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
