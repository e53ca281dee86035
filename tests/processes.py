"""Helpers for tests that run mysqlwire in a child process and signal it."""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """`preexec_fn` for a child the test sends SIGINT: a shell starts background jobs with
    SIGINT ignored, the child would inherit that, and Python installs its KeyboardInterrupt
    handler only over the default disposition. So the suite run as `scripts/test &` would see
    Ctrl-C do nothing. Give the child the disposition a terminal's foreground job has."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
