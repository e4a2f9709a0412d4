"""The parser sandbox: a command confined with bubblewrap (Debian's `bubblewrap`).

Inside, the command sees a read-only `/usr` (and the Python it runs on), the few packages and
modules it needs bound read-only under /sandbox, a private in-memory /tmp, its own /proc (its
own processes only: the parent's environment is out of sight), no network (an unconnected
network namespace), no repository, `.env`, database or `var/`, and an empty environment but
the variables it is given. It runs as `nobody` (as root: bubblewrap, then `setpriv`; otherwise
in a user namespace) with no capabilities, no new privileges, and a seccomp filter that refuses
sockets other than Unix ones, ptrace, mount and kernel-module calls.

Where bubblewrap cannot run (not installed, user namespaces forbidden), `SANDBOX` says so once
in the log and callers fall back to a plain child process under their resource limits.
"""

from __future__ import annotations

import os
import platform
import shutil
import struct
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from backend.core.logging import get_logger

log = get_logger(__name__)

NOBODY = 65534
APP_DIR = "/sandbox/app"
SITE_DIR = "/sandbox/site"
_TMP = "/tmp"  # noqa: S108 - a private tmpfs inside the sandbox
_ROOT_LINKS = ("bin", "lib", "lib64", "sbin")
_ETC_READ = ("ld.so.cache", "fonts", "localtime")


@dataclass(frozen=True)
class Mode:
    bwrap: str | None  # None: no sandbox, fall back to a plain child
    as_root: bool
    setpriv: str | None
    reason: str


@lru_cache(maxsize=1)
def mode() -> Mode:
    """Whether bubblewrap can confine a command here (probed once per process)."""
    bwrap = shutil.which("bwrap")
    as_root = os.geteuid() == 0
    setpriv = shutil.which("setpriv") if as_root else None
    if bwrap is None:
        return _fallback("bubblewrap (bwrap) is not installed")
    if as_root and setpriv is None:
        return _fallback("running as root and setpriv is missing: cannot drop to nobody")
    probe = Mode(bwrap, as_root, setpriv, "")
    try:
        with seccomp() as fd:
            done = subprocess.run(
                command(probe, ["/usr/bin/true"], python=False, seccomp_fd=fd),
                capture_output=True,
                timeout=10,
                pass_fds=() if fd is None else (fd,),
            )
    except (OSError, subprocess.SubprocessError) as exc:
        return _fallback(f"bwrap could not start: {exc}")
    if done.returncode != 0:
        return _fallback(f"bwrap refused: {done.stderr.decode(errors='replace').strip()[:200]}")
    return probe


def _fallback(reason: str) -> Mode:
    log.warning("parser_sandbox_unavailable", reason=reason, fallback="resource limits only")
    return Mode(None, False, None, reason)


def command(
    current: Mode,
    argv: list[str],
    *,
    python: bool = True,
    env: dict[str, str] | None = None,
    seccomp_fd: int | None = None,
) -> list[str]:
    """`argv` wrapped in bubblewrap (bound paths: /usr, the interpreter, /sandbox/*); with
    `seccomp_fd` (from `seccomp()`, passed to the child) under the seccomp filter."""
    assert current.bwrap is not None
    args = [
        current.bwrap,
        "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session",
        "--ro-bind", "/usr", "/usr",
        "--proc", "/proc", "--dev", "/dev",
        # The sandbox's own in-memory /tmp (its namespace's alone), gone with it.
        "--perms", "01777", "--tmpfs", _TMP, "--chdir", _TMP,
        "--clearenv", "--setenv", "TMPDIR", _TMP, "--setenv", "HOME", _TMP,
        "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8",
    ]  # fmt: skip
    if not current.as_root:
        args += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
        args += ["--cap-drop", "ALL"]
    # As root, capabilities stay until setpriv has switched to nobody, which drops them all.
    for name in _ROOT_LINKS:
        link = Path("/") / name
        if link.is_symlink():
            args += ["--symlink", os.readlink(link), f"/{name}"]
        elif link.is_dir():
            args += ["--ro-bind", str(link), f"/{name}"]
    for name in _ETC_READ:
        if (Path("/etc") / name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    if python:
        args += _python_binds()
        args += ["--setenv", "PYTHONPATH", f"{APP_DIR}:{SITE_DIR}"]
        args += ["--setenv", "PYTHONDONTWRITEBYTECODE", "1"]
    for key, value in (env or {}).items():
        args += ["--setenv", key, value]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    args.append("--")
    if current.as_root:
        assert current.setpriv is not None
        args += [
            current.setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
        ]  # fmt: skip
    return args + argv


@contextmanager
def seccomp() -> Iterator[int | None]:
    """A file descriptor holding the seccomp program, to pass to the sandboxed Popen
    (`pass_fds`); None where there is no filter for this architecture."""
    if platform.machine() != "x86_64":
        yield None
        return
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, _PROGRAM)
        os.close(write_fd)
        write_fd = -1
        yield read_fd
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)


def python_executable() -> str:
    """The real interpreter (the venv's `python` is a symlink to it)."""
    return os.path.realpath(sys.executable)


def _python_binds() -> list[str]:
    prefix = Path(python_executable()).parents[1]
    site = sysconfig.get_paths()["purelib"]
    backend = Path(__file__).resolve().parents[1]
    binds = []
    # Folders bubblewrap creates on the way are root's and 0700 unless told otherwise.
    ancestors = [str(p) for p in reversed(prefix.parents) if str(p) != "/"]
    for folder in (*ancestors, "/sandbox", APP_DIR, f"{APP_DIR}/backend", SITE_DIR):
        binds += ["--perms", "0755", "--dir", folder]
    binds += ["--ro-bind", str(prefix), str(prefix), "--ro-bind", site, SITE_DIR]
    binds += ["--ro-bind", str(backend / "__init__.py"), f"{APP_DIR}/backend/__init__.py"]
    binds += ["--ro-bind", str(backend / "domain"), f"{APP_DIR}/backend/domain"]
    return binds


# --- seccomp -------------------------------------------------------------------------------------

_AUDIT_ARCH_X86_64 = 0xC000003E
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000
_EPERM = 1
_AF_UNIX = 1
# x86_64 numbers: socket, socketpair (checked on their domain) and calls refused outright.
_SOCKET, _SOCKETPAIR = 41, 53
_DENIED = {
    "ptrace": 101, "mount": 165, "umount2": 166, "pivot_root": 155, "swapon": 167,
    "swapoff": 168, "reboot": 169, "init_module": 175, "delete_module": 176, "kexec_load": 246,
    "finit_module": 313, "bpf": 321, "userfaultfd": 323, "perf_event_open": 298,
    "process_vm_readv": 310, "process_vm_writev": 311, "unshare": 272, "setns": 308,
    "keyctl": 250, "add_key": 248, "request_key": 249, "open_by_handle_at": 304,
}  # fmt: skip


def _bpf(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def seccomp_program() -> bytes:
    """A classic-BPF seccomp filter (x86_64): EPERM for the calls above and for sockets that
    are not AF_UNIX; everything else allowed. Other architectures get no filter."""
    ld_w_abs, jeq_k, ret_k = 0x20, 0x15, 0x06
    errno = _SECCOMP_RET_ERRNO | _EPERM
    prog = [
        _bpf(ld_w_abs, 0, 0, 4),  # arch
        _bpf(jeq_k, 1, 0, _AUDIT_ARCH_X86_64),
        _bpf(ret_k, 0, 0, _SECCOMP_RET_ALLOW),
        _bpf(ld_w_abs, 0, 0, 0),  # syscall number
    ]
    for number in _DENIED.values():
        prog += [_bpf(jeq_k, 0, 1, number), _bpf(ret_k, 0, 0, errno)]
    # socket/socketpair: allow only domain (args[0], low 32 bits at offset 16) == AF_UNIX.
    prog += [
        _bpf(jeq_k, 1, 0, _SOCKET),
        _bpf(jeq_k, 0, 3, _SOCKETPAIR),
        _bpf(ld_w_abs, 0, 0, 16),
        _bpf(jeq_k, 1, 0, _AF_UNIX),
        _bpf(ret_k, 0, 0, errno),
        _bpf(ret_k, 0, 0, _SECCOMP_RET_ALLOW),
    ]
    return b"".join(prog)


_PROGRAM = seccomp_program()
