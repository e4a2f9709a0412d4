"""The parser sandbox against a hostile payload: real bubblewrap, real processes.

The payload stands for a parser exploit: it runs as Python inside the same confinement as the
parsing child and tries to open a socket, read `.env`, the database and the parent's
environment, fork many processes and write outside its folder. Each attempt must fail; then a
real document still parses (the worker keeps serving). A child SIGKILLed mid-parse leaves no
temporary file behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest

from backend.adapters import parser_pool, sandbox
from backend.adapters.parser_process import parse_isolated
from backend.core.settings import ROOT_DIR
from tests.support import document_files as files

MODE = sandbox.mode()
needs_bwrap = pytest.mark.skipif(
    MODE.bwrap is None, reason=f"bubblewrap cannot run here: {MODE.reason}"
)

HOSTILE = r"""
import json, os, socket, sys
out = {}
def attempt(name, fn):
    try:
        out[name] = "succeeded: " + str(fn())[:80]
    except BaseException as exc:
        out[name] = "failed: " + type(exc).__name__
attempt("socket_inet", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
attempt("connect", lambda: socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2))
attempt("read_env_file", lambda: open(sys.argv[2]).read())
attempt("read_database", lambda: open(sys.argv[3], "rb").read(16))
attempt("parent_environ", lambda: open(f"/proc/{sys.argv[4]}/environ", "rb").read())
attempt("write_outside", lambda: open("/usr/evil", "w").write("x"))
attempt("write_repo", lambda: open(sys.argv[5] + "/evil", "w").write("x"))
def fork_many():
    pids = []
    try:
        for _ in range(200):
            pid = os.fork()
            if pid == 0:
                import time; time.sleep(3); os._exit(0)
            pids.append(pid)
    finally:
        out["forked"] = len(pids)
    return len(pids)
attempt("fork_200", fork_many)
attempt("write_own_tmp", lambda: open("/tmp/ok", "w").write("fine"))
out["uid"] = os.getuid()
out["environ_keys"] = sorted(os.environ)
print(json.dumps(out))
"""


def _run_hostile(port: int, repo_marker: Path) -> dict[str, object]:
    import resource  # noqa: F401  (the limits below are the parser's own)

    limits = "import resource; resource.setrlimit(resource.RLIMIT_NPROC, (16, 16)); "
    argv = [
        sandbox.python_executable(), "-S", "-c", limits + HOSTILE, str(port),
        str(ROOT_DIR / ".env"), str(repo_marker), str(os.getpid()), str(ROOT_DIR),
    ]  # fmt: skip
    with sandbox.seccomp() as fd:
        done = subprocess.run(
            sandbox.command(MODE, argv, seccomp_fd=fd),
            capture_output=True,
            timeout=60,
            pass_fds=() if fd is None else (fd,),
        )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@needs_bwrap
def test_a_hostile_payload_fails_at_everything(tmp_path: Path) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    env_file = ROOT_DIR / ".env"
    created_env = not env_file.exists()
    if created_env:
        env_file.write_text("JWT_SECRET=do-not-read-me\n")
    os.environ["LTQ_PARENT_SECRET"] = "parent-secret-value"
    try:
        out = _run_hostile(listener.getsockname()[1], Path(os.environ["DATABASE_URL"][10:]))
    finally:
        listener.close()
        os.environ.pop("LTQ_PARENT_SECRET")
        if created_env:
            env_file.unlink()
    for name in ("socket_inet", "connect", "read_env_file", "read_database", "parent_environ",
                 "write_outside", "write_repo", "fork_200"):  # fmt: skip
        assert str(out[name]).startswith("failed"), (name, out[name])
    assert int(out["forked"]) < 16  # type: ignore[call-overload]
    assert out["write_own_tmp"] == "succeeded: 4"
    assert out["uid"] == sandbox.NOBODY
    assert "LTQ_PARENT_SECRET" not in out["environ_keys"]  # type: ignore[operator]
    assert not (ROOT_DIR / "evil").exists()
    # The worker keeps serving: the next document parses.
    assert parse_isolated(b"texto normal do processo").extracted.text == "texto normal do processo"


def _kill_parser_when_started(stop: threading.Event) -> None:
    """SIGKILL the child parsing the document (a child of the zygote that is using CPU)."""
    me = psutil.Process(os.getpid())
    while not stop.is_set():
        for child in me.children(recursive=True):
            try:
                parent = child.parent()
                if (
                    parent is not None
                    and "backend.domain.parsing_zygote" in " ".join(parent.cmdline())
                    and parent.name().startswith("python")
                    and child.cpu_times().user > 0.3
                ):
                    child.send_signal(signal.SIGKILL)
                    return
            except psutil.Error:
                continue
        time.sleep(0.01)


def test_temporary_files_go_even_when_the_child_is_killed() -> None:
    parser_pool.stop()
    before = set(Path(tempfile.gettempdir()).glob("ltq-parse-*"))
    heavy = files.text_pdf(["\n".join(f"linha {i} do processo" for i in range(100_000))])
    stop = threading.Event()
    killer = threading.Thread(target=_kill_parser_when_started, args=(stop,))
    killer.start()
    try:
        with pytest.raises(Exception) as caught:
            parse_isolated(heavy)
    finally:
        stop.set()
        killer.join()
    assert getattr(caught.value, "code", None) in ("cpu_limit", "parser_crashed")
    # Without bubblewrap the zygote's private folder holds only the next child's folder.
    for folder in set(Path(tempfile.gettempdir()).glob("ltq-parse-*")) - before:
        assert len(list(folder.iterdir())) <= 1
    assert parse_isolated(b"ainda funciona").extracted.text == "ainda funciona"
    parser_pool.stop()
    assert set(Path(tempfile.gettempdir()).glob("ltq-parse-*")) == before
