"""No stack process survives: normal stop, Ctrl-C during `make run`, a killed parent."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devstack.stack import REPO


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = (
        Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}").exists() else "X"
    )
    return state != "Z"


def _wait_file(
    path: Path, proc: subprocess.Popen[bytes], timeout: float = 120
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise AssertionError(f"stack process exited early:\n{output[-3000:]}")
        if path.exists():
            try:
                data: dict[str, object] = json.loads(path.read_text())
                return data
            except ValueError:
                pass
        time.sleep(0.2)
    raise TimeoutError(path)


def _wait_gone(pids: list[int], timeout: float = 20) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.2)
    return [p for p in pids if _alive(p)]


def test_ctrl_c_during_make_run_stops_every_process(tmp_path: Path) -> None:
    state = tmp_path / "run"
    run = [sys.executable, "-m", "devstack.run", "--demo", "none", "--state-dir", str(state)]
    # started with SIGINT ignored, as a background job of a non-interactive shell (a CI runner's
    # `cmd &`) starts it: Python then installs no KeyboardInterrupt handler of its own
    proc = subprocess.Popen(
        ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *run],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        endpoints = _wait_file(state / "stack.json", proc)
        pids = [int(p) for p in endpoints["pids"].values()]  # type: ignore[attr-defined]
        assert len(pids) >= 4 and all(_alive(p) for p in pids)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out.decode()[-2000:]
    assert b"All stack processes stopped." in out
    assert _wait_gone(pids) == []
    assert not (state / "stack.json").exists()


def test_children_die_with_a_killed_parent(tmp_path: Path) -> None:
    script = (
        "import json, sys, time\n"
        "from pathlib import Path\n"
        "from devstack.stack import LocalStack\n"
        "stack = LocalStack(Path(sys.argv[1]), functions=[]).start()\n"
        "time.sleep(600)\n"
    )
    state = tmp_path / "crash"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(state)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        endpoints = _wait_file(state / "stack.json", proc)
        pids = [int(p) for p in endpoints["pids"].values()]  # type: ignore[attr-defined]
        assert all(_alive(p) for p in pids)
    finally:
        proc.kill()  # SIGKILL: no cleanup code runs in the parent
        proc.wait()
    assert _wait_gone(pids) == []
