"""A local OpenAI-compatible chat-completions server that replays recorded model answers.

Answers are keyed by the SHA-256 of the request's messages, so a changed prompt finds no
answer (HTTP 404 with the key) instead of a stale one: re-record after changing the prompt.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ANSWERS_PATH = Path(__file__).resolve().parents[1] / "data" / "triage" / "llm_answers.jsonl"


def messages_key(messages: Any) -> str:
    canonical = json.dumps(messages, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_answers(path: Path = ANSWERS_PATH) -> dict[str, str]:
    with path.open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return {row["key"]: row["content"] for row in rows}


@contextmanager
def recorded_model(answers: Mapping[str, str]) -> Iterator[str]:
    """Serve `answers` on a free loopback port; yields the base URL (…/v1)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            key = messages_key(body.get("messages"))
            if key not in answers:
                self._send(404, {"error": f"no recorded answer for {key}"})
                return
            message = {"role": "assistant", "content": answers[key]}
            self._send(200, {"choices": [{"index": 0, "message": message}]})

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
