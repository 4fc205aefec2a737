"""Child processes that end with their parent: the service's embedded Redis, API and workers
are started so that the kernel sends them SIGTERM when the process that started them dies
(Linux' ``PR_SET_PDEATHSIG``), and a supervisor killed with SIGKILL leaves nothing behind.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import sys

_PR_SET_PDEATHSIG = 1


def end_with_parent() -> None:
    """``preexec_fn`` of a child: SIGTERM it when its parent dies (Linux only; elsewhere
    nothing happens)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
