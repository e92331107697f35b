"""Stack children: started without preexec_fn (no gRPC fork handlers), die with their parent."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from devstack.processes import ManagedProcess, PidRegistry

REPO = Path(__file__).resolve().parents[3]


def test_children_start_clean_while_grpc_is_busy(tmp_path: Path) -> None:
    """Issue 13: with preexec_fn, ~1 child in 40 inherited gRPC fork-handler errors
    ("Bad file descriptor") in its log, and one died before exec."""
    import grpc

    channels = [grpc.insecure_channel(f"127.0.0.1:{port}") for port in (1, 2)]
    stop = False

    def busy() -> None:
        while not stop:
            for channel in channels:
                with contextlib.suppress(grpc.RpcError):
                    channel.unary_unary("/probe.Busy/Call")(b"", timeout=0.01)

    import threading

    thread = threading.Thread(target=busy, daemon=True)
    thread.start()
    try:
        for i in range(120):
            proc = ManagedProcess(f"child{i}", ["/bin/sh", "-c", "echo ok"], log_dir=tmp_path)
            proc.start()
            assert proc._proc is not None
            assert proc._proc.wait(30) == 0
            assert proc.log_path.read_text() == "ok\n"
    finally:
        stop = True
        thread.join(5)
        for channel in channels:
            channel.close()


def test_child_dies_with_its_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from devstack.processes import ManagedProcess
        child = ManagedProcess("sleeper", ["sleep", "120"], log_dir=Path({str(tmp_path)!r}))
        child.start()
        print(child.pid, flush=True)
        time.sleep(120)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        deadline = time.monotonic() + 10
        cmdline = b""
        while time.monotonic() < deadline:  # the wrapper execs `sleep` under the same PID
            cmdline = Path(f"/proc/{child_pid}/cmdline").read_bytes()
            if cmdline.startswith(b"sleep"):
                break
            time.sleep(0.05)
        assert cmdline.split(b"\0")[:2] == [b"sleep", b"120"]
    finally:
        parent.kill()
        parent.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{child_pid}").exists():
        status = Path(f"/proc/{child_pid}/stat").read_text().split()[2:3]
        if status == ["Z"]:
            break
        time.sleep(0.05)
    gone = (
        not Path(f"/proc/{child_pid}").exists()
        or Path(f"/proc/{child_pid}/stat").read_text().split()[2] == "Z"
    )
    assert gone, "the child outlived its parent"


def test_registry_records_the_real_command_line(tmp_path: Path) -> None:
    registry = PidRegistry(tmp_path / "pids.json")
    proc = ManagedProcess("s", ["sleep", "30"], log_dir=tmp_path, registry=registry).start()
    try:
        assert proc.pid is not None
        assert registry._read()[str(proc.pid)] == ["sleep", "30"]
        time.sleep(0.3)
        assert registry.reap_stale() == [proc.pid]
    finally:
        proc.stop()


def test_no_python_code_runs_between_fork_and_exec(tmp_path: Path, monkeypatch: Any) -> None:
    seen: list[dict[str, Any]] = []
    real = subprocess.Popen

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    ManagedProcess("t", ["true"], log_dir=tmp_path).start().stop()
    assert seen
    assert seen[0].get("preexec_fn") is None
