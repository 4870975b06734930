"""What the fork server loads before it forks any turn (its `set_forkserver_preload`).

Two things: the turn's code, so each forked child starts without importing it; and
the fork server's stance on signals meant for the service. A Ctrl-C reaches the
whole foreground process group and systemd's stop sends SIGTERM to every process of
the unit; the service may still be draining its turns then, and each turn's child
ends its turn when the fork server dies. So the fork server ignores both (SIGINT
multiprocessing already ignores there; SIGTERM is ignored here). It still goes away
on its own: it exits when the last holder of its "alive" pipe (the service, each
turn's child) is gone, and SIGKILL ends it like anything else.

Only the fork server should import this module; if anything else does, the import
has no effect beyond loading `wakeful.brain.child`.
"""

from __future__ import annotations

import multiprocessing.forkserver
import signal
import sys

import wakeful.brain.child  # noqa: F401  (preloaded for the turns forked from here)


def _imported_by_fork_server() -> bool:
    """True when multiprocessing's fork server `main()` is importing us (its preload).

    Runs at import, in whichever process imports this module.
    """
    server_main = multiprocessing.forkserver.main.__code__
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is server_main:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


if _imported_by_fork_server():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
