"""Which engine triages a case: the rules (default) or an LLM that falls back to the rules.

The result's `engine` names the engine that answered; after a fallback it is the rules engine
and `fallback_reason` says why the LLM's answer was not used (e.g. `llm_timeout`). The LLM's
shared breaker being open is one such reason: no call is made. Only its shared rate limit
defers the task (`CallDeferred`), since a slot frees within the limit's window.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date
from typing import Literal

from backend.adapters.llm import LLM_SERVICE, LLMClient
from backend.core.errors import LLMError
from backend.core.logging import get_logger
from backend.domain.triage import JsonValue, TriageResult
from backend.domain.triage import classify_case as classify_with_rules
from backend.domain.triage_llm import InvalidLLMReply, build_messages, parse_reply, reply_content
from backend.resilience.external_calls import external_call

log = get_logger(__name__)

Engine = Literal["rules", "llm"]


def _shared_llm_guard() -> AbstractContextManager[object]:
    """The shared "llm" breaker and rate limit (state in Redis, one for every worker)."""
    return external_call(LLM_SERVICE)


def classify_with_llm(
    client: LLMClient,
    title: str,
    description: str,
    *,
    submitted_at: date | None = None,
    guard: Callable[[], AbstractContextManager[object]] = _shared_llm_guard,
) -> TriageResult:
    """Ask the model; raises LLMError or InvalidLLMReply when its answer cannot be used.

    `guard` wraps the call (default: the shared breaker and limit; an offline evaluation of
    recorded answers passes `contextlib.nullcontext`)."""
    payload = client.chat_json(
        build_messages(title, description, submitted_at=submitted_at), guard=guard
    )
    return parse_reply(
        reply_content(payload),
        title=title,
        description=description,
        engine=f"llm:{client.model}",
    )


def triage(
    title: str,
    description: str,
    *,
    engine: Engine,
    client: LLMClient | None = None,
    submitted_at: date | None = None,
) -> dict[str, JsonValue]:
    """Triage with the chosen engine; the LLM engine never fails, it falls back to the rules.

    Raises CallDeferred when the LLM's rate limit has no slot now."""
    fallback_reason: str | None = None
    if engine == "llm":
        try:
            return classify_with_llm(
                client or LLMClient.from_settings(), title, description, submitted_at=submitted_at
            ).to_dict()
        except (LLMError, InvalidLLMReply) as exc:
            fallback_reason = f"llm_{exc.reason}"
            log.warning("triage_llm_fallback", reason=fallback_reason)
    result = classify_with_rules(title, description, submitted_at=submitted_at).to_dict()
    if fallback_reason:
        result["fallback_reason"] = fallback_reason
    return result
