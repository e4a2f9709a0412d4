"""Write the exact chat messages the LLM triage engine sends for each case of a JSONL file.

    PYTHONPATH=. python scripts/llm_prompts.py CASES.jsonl PROMPTS.jsonl

Each output line is `{"key", "id", "messages"}`; `key` is the SHA-256 the replaying test server
(tests/support/recorded_llm.py) looks answers up by. A model answers each line's messages;
its answers go to tests/data/triage/llm_answers.jsonl as `{"key", "id", "content"}`.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.domain.triage_llm import build_messages  # noqa: E402
from tests.support.recorded_llm import messages_key  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("cases", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    with args.cases.open(encoding="utf-8") as src, args.out.open("w", encoding="utf-8") as out:
        for line in src:
            if not line.strip():
                continue
            case = json.loads(line)
            submitted = case.get("submitted_at")
            messages = build_messages(
                case["title"],
                case["description"],
                submitted_at=date.fromisoformat(submitted) if submitted else None,
            )
            row = {"key": messages_key(messages), "id": case["id"], "messages": messages}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
