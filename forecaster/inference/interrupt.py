"""Interrupting a run: Ctrl-C (SIGINT), SIGTERM and SIGHUP all stop it the same way, and an
interrupted run is never taken for a finished one.

PyMC catches KeyboardInterrupt inside `pm.sample` and returns the draws it has so far, as if
sampling had finished; and SIGTERM or SIGHUP would by default kill the parent at once and leave
its forked chain processes sampling on. So, while `interruptible()` is active:

- SIGTERM and SIGHUP raise `Terminated` (a KeyboardInterrupt) in the main thread, as SIGINT
  does, so PyMC's own clean-up runs (it tells its worker processes to stop and joins them);
- every signal that arrives is remembered, and `Guard.check()` re-raises it after PyMC has
  swallowed it;
- every process forked meanwhile (PyMC's chains) is killed by the kernel if its parent dies
  (Linux PR_SET_PDEATHSIG), so not even a SIGKILL of the parent leaves a worker behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from forecaster.core.errors import ForecastError

SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)
_PR_SET_PDEATHSIG = 1


class IncompleteRun(ForecastError):
    """A run has fewer draws than its settings claim: it must not be recorded or shown."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C; `exit_code` is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum
        self.exit_code = 128 + signum


@dataclass
class Guard:
    received: list[int] = field(default_factory=list)

    @property
    def interrupted(self) -> bool:
        return bool(self.received)

    def check(self) -> None:
        """Raise the first signal received (KeyboardInterrupt for SIGINT), if any."""
        if not self.received:
            return
        signum = self.received[0]
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(signum)

    def call(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        """fn(*args, **kwargs); when an interrupt arrived meanwhile, whatever fn made of it (PyMC:
        partial draws, or "Not enough samples to build a trace") becomes the interrupt itself."""
        try:
            return fn(*args, **kwargs)
        except Exception:
            self.check()
            raise


def check_complete(sizes: Mapping[str, int], *, chains: int, draws: int) -> None:
    """Refuse a posterior with fewer chains or draws than the settings asked for (`sizes`: its
    dimension sizes, as xarray gives them): an interrupted sampler returns what it has, and such
    a run must never be summarised, recorded or served as cached."""
    got = (int(sizes.get("chain", 0)), int(sizes.get("draw", 0)))
    if got != (chains, draws):
        raise IncompleteRun(f"sampling stopped early ({got[0]} chains × {got[1]} draws of {chains} × {draws}); nothing recorded")


_active: list[Guard] = []
_libc: Any = None


def _set_pdeathsig() -> None:
    global _libc
    if not sys.platform.startswith("linux"):
        return
    try:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - no prctl: PyMC's own clean-up remains
        pass


def _after_fork_in_child() -> None:
    if _active:
        _set_pdeathsig()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextlib.contextmanager
def interruptible() -> Iterator[Guard]:
    """Within the block, SIGINT/SIGTERM/SIGHUP raise KeyboardInterrupt and are remembered in the
    Guard. Re-entrant; a no-op (a Guard that sees nothing) outside the main thread."""
    if _active:
        yield _active[-1]
        return
    guard = Guard()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        guard.received.append(signum)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(signum)

    previous: dict[int, Any] = {}
    for signum in (signal.SIGINT, *SIGNALS):
        try:
            if signal.getsignal(signum) is signal.SIG_IGN:
                continue  # `nohup` asked for SIGHUP to be ignored: so it stays
            previous[signum] = signal.signal(signum, on_signal)
        except (ValueError, OSError):  # pragma: no cover - not settable here
            pass
    _active.append(guard)
    try:
        yield guard
    finally:
        _active.remove(guard)
        for signum, handler in previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signum, handler)
