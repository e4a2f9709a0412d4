"""`python -m backend batch submit FILE`: submit a file of cases in batches and follow them.

An HTTP client of the API only (it reads no server settings): it parses JSONL, a JSON array
or CSV (title, description, client_email), checks each case locally, submits the valid ones
in chunks (each chunk one batch, with an Idempotency-Key derived from the file's digest and
the chunk's place, so running the command again after a crash creates nothing twice), prints
each rejected item, then follows the batches with a progress bar on stderr until all complete.

Exit status: 0 every case was triaged; 1 some were rejected or failed; 2 usage or connection
error.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

from backend.cli.batch_input import SourceItem, UsageError, chunk_key, chunks, load_cases

_POLL_S = 1.0
_RETRIES = 8
_RETRY_CAP_S = 30.0
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass
class Submitted:
    batch_id: str
    # The file position of each case, by its index within the chunk.
    where: list[str]
    total: int


@dataclass
class Outcome:
    rejected: int = 0
    batches: list[Submitted] = field(default_factory=list)


class Api:
    """The few calls the command makes, with waits on 429/503 and on connection errors."""

    def __init__(self, url: str, token: str, timeout_s: float = 30.0) -> None:
        self.client = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        delay = 0.5
        for attempt in range(_RETRIES):
            try:
                response = self.client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == _RETRIES - 1:
                    raise UsageError(f"cannot reach the API ({type(exc).__name__})") from exc
                time.sleep(delay)
            else:
                if response.status_code not in (429, 502, 503, 504):
                    return response
                time.sleep(_retry_after(response, delay))
            delay = min(_RETRY_CAP_S, delay * 2)
        raise UsageError(f"the API stayed busy ({response.status_code})")

    def submit(self, cases: list[dict[str, str]], key: str, options: dict[str, str]) -> Any:
        response = self.request(
            "POST",
            "/api/triage/batch",
            json={"cases": cases, **options},
            headers={"Idempotency-Key": key},
        )
        if response.status_code == 422 and _error_message(response).startswith("no valid case"):
            return None  # the server refused every case of the chunk: reported per item
        _raise_for(response)
        return response.json()

    def batch(self, batch_id: str, *, offset: int = 0, limit: int = 0) -> Any:
        response = self.request(
            "GET", f"/api/triage/batch/{batch_id}", params={"offset": offset, "limit": limit}
        )
        _raise_for(response)
        return response.json()


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return min(_RETRY_CAP_S, max(0.1, float(response.headers.get("Retry-After", default))))
    except ValueError:
        return default


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


def _raise_for(response: httpx.Response) -> None:
    if response.status_code >= 400:
        raise UsageError(f"the API answered {response.status_code}: {_error_message(response)}")


# --- progress -----------------------------------------------------------------------------------


class ProgressBar:
    """A one-line bar on a terminal; on anything else, a line per change at most every few
    seconds (logs stay readable)."""

    WIDTH = 30
    LINE_EVERY_S = 2.0

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.first: int | None = None
        self.last_line = 0.0
        self.last_text = ""

    def update(self, done: int, failed: int, *, final: bool = False) -> None:
        finished = done + failed
        if self.first is None:
            self.first = finished
        text = self.render(done, failed, finished)
        if self.tty:
            self.stream.write(f"\r{text}\033[K" + ("\n" if final else ""))
        elif final or (
            text != self.last_text and time.monotonic() - self.last_line >= self.LINE_EVERY_S
        ):
            self.stream.write(text + "\n")
            self.last_line = time.monotonic()
        self.last_text = text
        self.stream.flush()

    def render(self, done: int, failed: int, finished: int) -> str:
        share = finished / self.total if self.total else 1.0
        filled = int(share * self.WIDTH)
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = (finished - (self.first or 0)) / elapsed
        left = self.total - finished
        eta = f"{left / rate:.0f}s" if rate > 0 and left else "-"
        bar = "#" * filled + "." * (self.WIDTH - filled)
        return f"[{bar}] {finished}/{self.total} done={done} failed={failed} {rate:.1f}/s ETA {eta}"


# --- the command --------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="JSONL, JSON array or CSV of cases")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the API's base URL")
    parser.add_argument("--token", default=None, help="bearer token (default: $LTQ_TOKEN)")
    parser.add_argument("--chunk", type=int, default=100, help="cases per batch (<= server's)")
    parser.add_argument("--notify-email", default=None, help="e-mailed when each batch ends")
    parser.add_argument("--callback-url", default=None, help="POSTed when each batch ends")
    parser.add_argument("--no-wait", action="store_true", help="submit, print, do not follow")


def submit_command(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    token = args.token or os.environ.get("LTQ_TOKEN")
    try:
        if not token:
            raise UsageError("a token is needed: --token or LTQ_TOKEN")
        if not 1 <= args.chunk <= 1000:
            raise UsageError("--chunk must be between 1 and 1000")
        items = load_cases(args.file)
        if not items:
            raise UsageError(f"{args.file} holds no case")
        api = Api(args.url, token)
        outcome = _submit_all(api, args, items, out)
        if args.no_wait or not outcome.batches:
            _print_summary(out, outcome, done=0, failed=0, waited=False, in_file=len(items))
            return EXIT_FAILED if outcome.rejected else EXIT_OK
        done, failed = _follow(api, outcome.batches)
        _print_failures(api, outcome.batches, out)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _print_summary(out, outcome, done=done, failed=failed, waited=True, in_file=len(items))
    return EXIT_FAILED if outcome.rejected or failed else EXIT_OK


def _submit_all(
    api: Api, args: argparse.Namespace, items: list[SourceItem], out: TextIO
) -> Outcome:
    outcome = Outcome()
    for item in items:
        if item.error is not None:
            outcome.rejected += 1
            print(f"{item.where}: rejected: {item.error}", file=out)
    digest = hashlib.sha256(args.file.read_bytes()).hexdigest()
    options = {
        k: v
        for k, v in (("notify_email", args.notify_email), ("callback_url", args.callback_url))
        if v
    }
    for index, chunk in enumerate(chunks(items, args.chunk)):
        cases = [item.case for item in chunk if item.case is not None]
        answer = api.submit(cases, chunk_key(digest, args.chunk, index), options)
        where = [item.where for item in chunk]
        if answer is None:
            outcome.rejected += len(chunk)
            for place in where:
                print(f"{place}: rejected by the server (no valid case in its batch)", file=out)
            continue
        for entry in answer["items"]:
            if "error" in entry:
                outcome.rejected += 1
                print(f"{where[entry['index']]}: rejected: {entry['error']['message']}", file=out)
        outcome.batches.append(Submitted(answer["batch_id"], where, answer["accepted"]))
        print(
            f"batch {answer['batch_id']}: {answer['accepted']} accepted, "
            f"{answer['rejected']} rejected",
            file=out,
        )
    out.flush()
    return outcome


def _follow(api: Api, batches: list[Submitted]) -> tuple[int, int]:
    """Poll the batches until every one completed; returns (done, failed) over all."""
    bar = ProgressBar(sum(b.total for b in batches), sys.stderr)
    counts: dict[str, tuple[int, int]] = {}
    open_ids = [b.batch_id for b in batches]
    while True:
        for batch_id in list(open_ids):
            state = api.batch(batch_id)
            counts[batch_id] = (state["done"], state["failed"])
            if state["status"] == "completed":
                open_ids.remove(batch_id)
        done = sum(d for d, _ in counts.values())
        failed = sum(f for _, f in counts.values())
        bar.update(done, failed, final=not open_ids)
        if not open_ids:
            return done, failed
        time.sleep(_POLL_S)


def _print_failures(api: Api, batches: list[Submitted], out: TextIO) -> None:
    for batch in batches:
        offset: int | None = 0
        while offset is not None:
            page = api.batch(batch.batch_id, offset=offset, limit=1000)
            for item in page["items"]:
                if item["status"] == "failed":
                    error = item.get("error") or {}
                    print(
                        f"{batch.where[item['index']]}: failed: case {item['case_id']}: "
                        f"{error.get('type', '')} {error.get('message', '')}".rstrip(),
                        file=out,
                    )
            offset = page["next_offset"]


def _print_summary(
    out: TextIO, outcome: Outcome, *, done: int, failed: int, waited: bool, in_file: int
) -> None:
    accepted = sum(b.total for b in outcome.batches)
    if waited:
        line = f"finished: {done} triaged, {failed} failed, {outcome.rejected} rejected"
    else:
        line = f"submitted: {accepted} accepted, {outcome.rejected} rejected"
    print(f"{line} ({in_file} in file, {len(outcome.batches)} batches)", file=out)
    out.flush()
