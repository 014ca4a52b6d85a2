"""Exact draws made in forked processes while the parent imports PyMC (numpy only here).

A sampled update needs two things that do not depend on each other: the draws (numpy, ~1 s on
the bundled network) and PyMC, to check them (its import alone is ~3 s). In one process they
compete for the interpreter lock; a forked child makes the draws on the other core while the
parent imports, and sends them back through a pipe (a few MB). Several runs (a scenario
comparison) fork one child each, at most one per core at a time.

The child is forked before anything else runs in threads, inherits the network and evidence (no
pickling of inputs), writes nothing, and ends with `os._exit` (no atexit handlers, no second flush
of the parent's buffers). Without `fork` (macOS, Windows), or with FORECAST_FORK=0, the draws are made
in the parent when asked for, and PyMC is imported in a thread meanwhile.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from forecaster.inference.draws import PosteriorDraws


@dataclass
class Job:
    """One run's draws: `make()` computes them (in a child or here)."""

    make: Callable[[], PosteriorDraws]
    result: PosteriorDraws | None = None
    error: BaseException | None = None
    process: Any = field(default=None, repr=False)
    conn: Connection | None = field(default=None, repr=False)


def fork_available() -> bool:
    """Whether this platform forks processes (Linux; macOS and Windows spawn)."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def can_fork() -> bool:
    """Whether the draws go to forked children: where fork is available, unless FORECAST_FORK=0."""
    if os.environ.get("FORECAST_FORK", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    return fork_available()


def cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _child(job: Job, conn: Connection) -> None:
    try:
        try:
            conn.send(("ok", job.make()))
        except BaseException as e:  # sent to the parent, which raises it  # noqa: BLE001
            try:
                conn.send(("error", e))
            except Exception:  # an exception that does not pickle: its message
                conn.send(("error", RuntimeError(f"{type(e).__name__}: {e}")))
        conn.close()
    finally:
        os._exit(0)


class Batch:
    """Draw jobs started now (forked, at most one per core running), collected in order."""

    def __init__(self, jobs: Sequence[Job]) -> None:
        self.jobs = list(jobs)
        self.fork = can_fork()
        self.slots = cores()
        if self.fork:
            self._fill()

    def _fill(self) -> None:
        running = sum(1 for j in self.jobs if j.process is not None and j.result is None and j.error is None)
        for job in self.jobs:
            if running >= self.slots:
                return
            if job.process is None and job.result is None:
                self._start(job)
                running += 1

    def _start(self, job: Job) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        ctx = multiprocessing.get_context("fork")
        parent_end, child_end = ctx.Pipe(duplex=False)
        job.process = ctx.Process(target=_child, args=(job, child_end), daemon=True)
        job.process.start()
        child_end.close()
        job.conn = parent_end

    def _receive(self, job: Job) -> None:
        assert job.conn is not None
        try:
            status, value = job.conn.recv()
        except EOFError:
            status, value = "error", RuntimeError("the process making the draws ended without them")
        job.conn.close()
        job.process.join()
        if status == "ok":
            job.result = value
        else:
            job.error = value

    def result(self, i: int) -> PosteriorDraws:
        """Job i's draws (waiting for them; made here when not forked)."""
        job = self.jobs[i]
        if not self.fork:
            if job.result is None:
                job.result = job.make()
            return job.result
        try:
            while job.result is None and job.error is None:
                if job.process is None:
                    self._start(job)
                ready = wait([j.conn for j in self.jobs if j.conn is not None and not j.conn.closed])
                for j in self.jobs:
                    if j.conn is not None and not j.conn.closed and j.conn in ready:
                        self._receive(j)
                self._fill()
        except BaseException:
            self.stop()
            raise
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def stop(self) -> None:
        """End every child still running (an interrupt, an error)."""
        for j in self.jobs:
            if j.process is not None and j.process.is_alive():
                j.process.terminate()
                j.process.join()
