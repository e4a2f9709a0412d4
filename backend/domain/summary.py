"""Short extractive summaries: the first sentence(s) of a text, never new words."""

from __future__ import annotations

import re

SUMMARY_LIMIT = 240
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+")
_SPACE_RE = re.compile(r"\s+")
_ELLIPSIS = "…"


def summarise(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """Whole leading sentences that fit in `limit` characters; else the first one, cut at a word."""
    flat = _SPACE_RE.sub(" ", text).strip()
    if len(flat) <= limit:
        return flat
    summary = ""
    for sentence in _SENTENCE_END_RE.split(flat):
        candidate = f"{summary} {sentence}".strip()
        if len(candidate) > limit:
            break
        summary = candidate
    if summary:
        return summary
    cut = flat[: limit - len(_ELLIPSIS)]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + _ELLIPSIS
