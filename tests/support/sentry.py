"""A local stand-in for Sentry's ingestion endpoint: a real HTTP server that keeps every
envelope the SDK posts (decompressed), so tests read what would have left the machine."""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from backend.devtools.redis_server import free_port


class SentryInbox:
    def __init__(self) -> None:
        self.port = free_port()
        self.dsn = f"http://publickey@127.0.0.1:{self.port}/1"
        self.envelopes: list[str] = []
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                elif encoding == "br":
                    import brotli  # type: ignore[import-not-found]

                    body = brotli.decompress(body)
                inbox.envelopes.append(body.decode(errors="replace"))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SentryInbox:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict[str, Any]]:
        """The error events received (the envelope items of type `event`)."""
        found = []
        for envelope in self.envelopes:
            lines = envelope.split("\n")
            for i, line in enumerate(lines[:-1]):
                try:
                    header = json.loads(line)
                except ValueError:
                    continue
                if isinstance(header, dict) and header.get("type") == "event":
                    found.append(json.loads(lines[i + 1]))
        return found
