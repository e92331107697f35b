"""Exec a command that dies with its parent: ``python -S deathsig.py PARENT_PID -- argv...``.

Why not ``subprocess.Popen(preexec_fn=...)``: a ``preexec_fn`` makes CPython fork the whole
(multi-threaded, gRPC-using) stack process and run Python code in the child before exec, which
runs gRPC's fork handlers there. Measured here: about 1 start in 40 wrote gRPC errors such as
``Kick failed: eventfd_write: Bad file descriptor`` or ``Epoll1Poller ... epoll_wait error: Bad
file descriptor`` into the new child's log, and a child can die of it before its exec: the
``function-quota-api exited during start-up`` of issue 13. Without ``preexec_fn`` CPython
starts children with vfork/exec and no Python or gRPC code runs in between; this tiny program
then sets ``PR_SET_PDEATHSIG`` (SIGKILL) on itself and execs the real command, keeping its PID.
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main() -> None:
    parent, separator, *argv = sys.argv[1:]
    if separator != "--" or not argv:
        sys.exit("usage: deathsig.py PARENT_PID -- command [args...]")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        sys.exit(f"prctl(PR_SET_PDEATHSIG) failed: errno {ctypes.get_errno()}")
    if os.getppid() != int(parent):  # the parent died before prctl: do not outlive it
        sys.exit(1)
    os.execvp(argv[0], argv)  # noqa: S606 - the stack's own command line


if __name__ == "__main__":
    main()
