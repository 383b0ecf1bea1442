"""Run a server command so that it dies with the process that started it, and its log goes with it.

    python -m llm.server_guard PARENT_PID LOG_PATH -- command ...

LlamaCppServer starts the llama.cpp server through this guard. A SIGKILL of the launcher runs no cleanup
code at all, so without the guard its server child would keep serving (an orphan holding a port and memory)
and its temporary log would stay in /tmp. The guard watches its parent: when the launcher is gone (the guard
was re-parented) it stops the server (SIGTERM, SIGKILL after 10 s) and deletes the log; while the launcher
lives, the launcher reads and deletes the log itself. The server gets Linux's parent-death signal (SIGKILL)
for the guard's own death, so even a SIGKILL of the whole group's guard leaves no server behind.

Why a guard process: the parent-death signal fires when the *thread* that forked a child exits, so it cannot
be set on a launcher's child if the launcher may start servers from short-lived threads; and preexec_fn is
unsafe in a process with threads. The guard has a single thread, so both are safe for its one child, and
it checks for its parent's death by polling getppid(), which changes only when the whole process is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int) -> None:
    """Ask Linux to send `sig` to this process when its parent thread exits (prctl PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def _server_preexec() -> None:  # runs in the forked server before exec; the guard is single-threaded
    set_parent_death_signal(signal.SIGKILL)


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: python -m llm.server_guard PARENT_PID LOG_PATH -- command ...", file=sys.stderr)
        return 2
    parent, log_path, command = int(argv[0]), argv[1], argv[3:]
    asked_to_stop = False

    def on_signal(signum, _frame):
        nonlocal asked_to_stop
        asked_to_stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if os.getppid() != parent:  # the launcher died before the guard got going
        _remove(log_path)
        return 1
    with open(log_path, "ab") as log:
        server = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                  preexec_fn=_server_preexec)  # noqa: PLW1509 - the guard has one thread
    stop_deadline = None
    while True:
        try:
            code = server.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            pass
        if stop_deadline is None and (asked_to_stop or os.getppid() != parent):
            server.terminate()
            stop_deadline = time.monotonic() + 10
        elif stop_deadline is not None and time.monotonic() > stop_deadline:
            server.kill()  # it ignored SIGTERM
    if os.getppid() != parent:  # orphaned: nobody is left to read or delete the log
        _remove(log_path)
    return code if code >= 0 else 128 - code


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
