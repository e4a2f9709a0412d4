"""The LLM triage engine on the held-out batches, through a real local OpenAI-compatible server
that replays recorded model answers (tests/data/triage/llm_answers.jsonl, keyed by the hash of
the exact prompt: a changed prompt must be recorded again, and fails here until it is).

It measures what our side decides: the prompt sent, the parsing and validation of the answer,
and the engine's result; the fallback to the rules on errors is tested in
test_triage_engine.py. How the answers were recorded is in tests/data/triage/EVALUATION.md.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import date

from backend.adapters.llm import LLMClient
from backend.services.triage_engine import classify_with_llm
from tests.support.recorded_llm import load_answers, recorded_model
from tests.support.triage_eval import load_gold, score

# Answers are recorded for b8 + b9 (held out when recorded, development data since) and for
# the held-out b10 + b11, all to the current prompt; the targets are judged on held-out ones.
RECORDED_BATCHES = ("b8", "b9", "b10", "b11")


def test_llm_engine_meets_the_targets_on_held_out_batches() -> None:
    cases = load_gold("heldout")
    assert cases and {c["batch"] for c in cases} <= set(RECORDED_BATCHES)
    with recorded_model(load_answers()) as url:
        client = LLMClient(base_url=url, model="recorded", api_key=None, timeout_s=5)

        def predict(case: dict[str, str]) -> tuple[str, str]:
            result = classify_with_llm(
                client,
                case["title"],
                case["description"],
                submitted_at=date.fromisoformat(case["submitted_at"]),
                guard=nullcontext,
            )
            return result.area, result.urgency

        scores = score(cases, predict)
    print("\nLLM engine (recorded answers), held-out batches\n" + scores.table())
    assert not scores.misses_targets(), scores.misses_targets()
