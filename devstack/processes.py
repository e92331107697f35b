"""Child processes of the local stack: started on 127.0.0.1, health-checked, stopped by PID.

Every child gets its own session (so its whole process group can be signalled), dies with its
parent (``PR_SET_PDEATHSIG``), and is recorded in a PID file so a later start can end what a
crashed run left behind (only when the PID still runs the exact command line we started).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from shared.errors import PipelineError

DEATHSIG = Path(__file__).with_name("deathsig.py")


class StackError(PipelineError, RuntimeError):
    """A stack process failed to start or become healthy (a ``RuntimeError`` too, as before)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def with_parent_death_signal(argv: Sequence[str]) -> list[str]:
    """``argv`` run through :mod:`devstack.deathsig`: the child gets SIGKILL when we die.

    SIGKILL, not SIGTERM: a busy server may take its time over a graceful shutdown, and an
    orphan of a crashed run must not outlive it (emulator state is disposable). No
    ``preexec_fn``: see devstack/deathsig.py for the start-up failure it caused.
    """
    return [sys.executable, "-S", str(DEATHSIG), str(os.getpid()), "--", *argv]


def tcp_open(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:port (gRPC emulators)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def http_ok(url: str, *, accept_any_status: bool = False) -> bool:
    """True when ``url`` answers (2xx, or any HTTP status with accept_any_status)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local URL
            return 200 <= int(response.status) < 300
    except urllib.error.HTTPError:
        return accept_any_status
    except (OSError, ValueError):
        return False


class PidRegistry:
    """A JSON file of the PIDs this stack started, with their command lines."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, list[str]]:
        try:
            data: dict[str, list[str]] = json.loads(self.path.read_text())
            return data
        except (OSError, ValueError):
            return {}

    def add(self, pid: int, argv: Sequence[str]) -> None:
        data = self._read()
        data[str(pid)] = list(argv)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(data))

    def remove(self, pid: int) -> None:
        data = self._read()
        data.pop(str(pid), None)
        self.path.write_text(json.dumps(data))

    def reap_stale(self) -> list[int]:
        """End processes a previous crashed run left behind (exact command line match only)."""
        ended = []
        for pid_text, argv in self._read().items():
            pid = int(pid_text)
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if [c.decode(errors="replace") for c in cmdline if c] != argv:
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            ended.append(pid)
        with contextlib.suppress(OSError):
            self.path.unlink()
        return ended


class ManagedProcess:
    """One child process with its log file under the stack's log folder."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        registry: PidRegistry | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env or os.environ)
        self.cwd = cwd
        self.log_path = log_dir / f"{name}.log"
        self.registry = registry
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                with_parent_death_signal(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        finally:
            log.close()
        if self.registry is not None:
            self.registry.add(self._proc.pid, self.argv)
        return self

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, check: Callable[[], bool], timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise StackError(
                    f"{self.name} exited during start-up (see {self.log_path}):\n{self.log_tail()}"
                )
            if check():
                return
            time.sleep(0.1)
        raise StackError(f"{self.name} not healthy after {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 8.0) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout)
        # children left in the group (gunicorn workers) go with it
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if self.registry is not None:
            self.registry.remove(proc.pid)
        self._proc = None
