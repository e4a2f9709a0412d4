"""The parser zygote pool on real processes (in bubblewrap where it runs): one zygote serves
many documents, a document that breaks a limit is killed while the zygote carries on, a killed
zygote is replaced without losing the document, and stopping leaves no process behind."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from backend.adapters import parser_pool, sandbox
from backend.adapters.parser_process import IsolationLimits, ParsedDocument, parse_isolated
from backend.core.errors import DocumentParseFailed
from backend.domain.parsing_zygote import Spare
from tests.support import document_files as files
from tests.support.parsers import document_children, tree, zygote_process
from tests.support.waiting import wait_for

GENEROUS = IsolationLimits(timeout_s=60, cpu_s=30, memory_bytes=1024**3)
# One page of 100,000 lines keeps pypdf busy for tens of seconds.
HEAVY = files.text_pdf(["\n".join(f"linha {i} do processo" for i in range(100_000))])


@pytest.fixture()
def pool() -> Iterator[parser_pool.ParserPool]:
    parser_pool.stop()
    yield parser_pool.pool()
    parser_pool.stop()


def _parse(data: bytes, isolation: IsolationLimits = GENEROUS) -> ParsedDocument:
    return parse_isolated(data, isolation=isolation)


def _parser_processes() -> list[int]:
    """This test process's descendants that belong to a parser (Redis is one of ours too).
    In a full run they include the zygotes of the session's worker processes, so tests compare
    against what ran before they started."""
    mine = psutil.Process(os.getpid()).children(recursive=True)
    return [p.pid for p in mine if "backend.domain.parsing_zygote" in " ".join(p.cmdline())]


def _ended(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE  # ended, not reaped yet
    except psutil.NoSuchProcess:
        return True


def test_one_zygote_parses_document_after_document(pool: parser_pool.ParserPool) -> None:
    texts = [f"petição número {n}: contrato de locação" for n in range(5)]
    parsed = [_parse(text.encode()).extracted.text for text in texts]
    assert parsed == texts
    [zygote] = pool.zygote_pids()
    assert _parse(files.docx(["cláusula primeira"])).extracted.text == "cláusula primeira"
    assert pool.zygote_pids() == [zygote]
    # Each document had a child of its own: at most the next one (forked ahead) waits.
    assert len(document_children(zygote)) <= 1


def test_a_hanging_document_is_killed_and_the_next_one_parses(
    pool: parser_pool.ParserPool,
) -> None:
    _parse(b"aquecimento")
    [zygote] = pool.zygote_pids()
    with pytest.raises(DocumentParseFailed) as caught:
        _parse(HEAVY, IsolationLimits(timeout_s=1, cpu_s=30, memory_bytes=1024**3))
    assert caught.value.code == "timeout"
    assert _parse(b"documento seguinte").extracted.text == "documento seguinte"
    assert pool.zygote_pids() == [zygote]
    # The killed child is gone; what remains is the child forked for the next document.
    assert len(document_children(zygote)) <= 1


def test_cpu_and_memory_bombs_are_killed_by_their_limits(pool: parser_pool.ParserPool) -> None:
    _parse(b"aquecimento")
    [zygote] = pool.zygote_pids()
    with pytest.raises(DocumentParseFailed) as cpu:
        _parse(HEAVY, IsolationLimits(timeout_s=60, cpu_s=1, memory_bytes=1024**3))
    assert cpu.value.code == "cpu_limit"
    with pytest.raises(DocumentParseFailed) as memory:
        _parse(
            b"texto " * (2 * 1024 * 1024),
            IsolationLimits(timeout_s=60, cpu_s=30, memory_bytes=40 * 1024**2),
        )
    assert memory.value.code in ("memory_limit", "parser_crashed")
    with pytest.raises(DocumentParseFailed) as bomb:
        _parse(files.zip_bomb_docx(256 * 1024 * 1024))
    assert bomb.value.code == "suspicious_archive"
    assert _parse(b"ainda funciona").extracted.text == "ainda funciona"
    assert pool.zygote_pids() == [zygote]


def test_a_zygote_killed_while_idle_is_replaced(pool: parser_pool.ParserPool) -> None:
    _parse(b"primeiro")
    [zygote] = pool.zygote_pids()
    zygote_process(zygote).send_signal(signal.SIGKILL)
    wait_for(lambda: all(_ended(p) for p in tree(zygote)), 10, "the sandbox's end")
    assert _parse(b"segundo").extracted.text == "segundo"
    [replacement] = pool.zygote_pids()
    assert replacement != zygote


def test_a_zygote_killed_under_a_document_loses_no_document(
    pool: parser_pool.ParserPool,
) -> None:
    # A few seconds of parsing: long enough to kill the zygote in the middle of it.
    slow = files.text_pdf(["\n".join(f"linha {i} do processo" for i in range(15_000))])
    _parse(b"aquecimento")
    [zygote] = pool.zygote_pids()
    outcome: list[object] = []
    parsing = threading.Thread(target=lambda: outcome.append(_parse(slow)))
    parsing.start()

    def busy_child() -> bool:
        return any(c.cpu_times().user > 0.3 for c in document_children(zygote))

    wait_for(busy_child, 30, "a child busy parsing")
    zygote_process(zygote).send_signal(signal.SIGKILL)
    parsing.join(120)
    [parsed] = outcome
    assert isinstance(parsed, ParsedDocument)
    assert parsed.extracted.text.startswith("linha 0 do processo\nlinha 1 do processo")
    assert pool.zygote_pids() != [zygote]


def test_stopping_the_pool_leaves_no_process(pool: parser_pool.ParserPool) -> None:
    others = set(_parser_processes())
    _parse(b"um documento")
    [zygote] = pool.zygote_pids()
    processes = tree(zygote)
    assert len(processes) >= 2  # the zygote and the child forked ahead for the next document
    parser_pool.stop()
    _, alive = psutil.wait_procs(processes, timeout=5)
    assert alive == []
    assert set(_parser_processes()) - others == set()


def test_a_forked_process_gets_a_pool_of_its_own(pool: parser_pool.ParserPool) -> None:
    _parse(b"no processo pai")
    [zygote] = pool.zygote_pids()
    pid = os.fork()
    if pid == 0:  # the child must not use, nor stop, its parent's zygote
        code = 1
        try:
            ok = parser_pool.pool().zygote_pids() == []
            parser_pool.stop()
            code = 0 if ok else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _parse(b"ainda no pai").extracted.text == "ainda no pai"
    assert pool.zygote_pids() == [zygote]


def test_a_spare_child_without_its_document_exits(tmp_path: Path) -> None:
    spare = Spare(tmp_path)
    time.sleep(0.05)
    spare.close()  # its request pipe closes: it ends without parsing anything
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(spare.pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    raise AssertionError("the spare child did not exit")


def test_without_bubblewrap_the_zygote_runs_under_the_limits_alone(
    pool: parser_pool.ParserPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "mode", lambda: sandbox.Mode(None, False, None, "test"))
    others = set(_parser_processes())
    before = set(Path(tempfile.gettempdir()).glob("ltq-parse-*"))
    assert _parse(b"sem sandbox").extracted.text == "sem sandbox"
    [zygote] = pool.zygote_pids()
    assert zygote_process(zygote).pid == zygote  # no bubblewrap around it
    [folder] = set(Path(tempfile.gettempdir()).glob("ltq-parse-*")) - before
    with pytest.raises(DocumentParseFailed) as caught:
        _parse(HEAVY, IsolationLimits(timeout_s=1, cpu_s=30, memory_bytes=1024**3))
    assert caught.value.code == "timeout"
    assert _parse(b"seguinte").extracted.text == "seguinte"
    assert pool.zygote_pids() == [zygote]
    assert len(list(folder.iterdir())) <= 1  # the next child's folder; the killed one's is gone
    parser_pool.stop()
    assert not folder.exists()
    assert set(_parser_processes()) - others == set()
