"""Finding the parser zygote's processes (bubblewrap's, the zygote's, its children's)."""

from __future__ import annotations

import psutil


def tree(pid: int) -> list[psutil.Process]:
    """The zygote's process (bubblewrap's, when sandboxed) and everything under it."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def zygote_process(pid: int) -> psutil.Process:
    """The Python zygote itself: the topmost Python process of the tree (inside bubblewrap,
    whose own command lines name the zygote's module too)."""
    processes = tree(pid)
    pythons = {p.pid for p in processes if p.name().startswith("python")}
    return next(p for p in processes if p.pid in pythons and p.ppid() not in pythons)


def document_children(pid: int) -> list[psutil.Process]:
    """The zygote's children: the one parsing a document, the one forked ahead for the next."""
    return zygote_process(pid).children()
