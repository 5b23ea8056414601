"""Fault injection for the chaos tests: signal a Ray worker process of this test's own cluster while it
runs a given method. Ray titles a worker process `ray::<Class>.<method>` while the method runs, so
the title says what the process is doing; only descendants of `root` (this test process, which started
the cluster, or a driver it started) are looked at, never other processes on the machine."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import psutil


def processes(title: str, root: int | None = None) -> list[psutil.Process]:
    """Live descendants of `root` (default: this process) whose process title starts with `title`."""
    out = []
    for p in psutil.Process(root or os.getpid()).children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE and " ".join(p.cmdline()).startswith(title):
                out.append(p)
        except psutil.Error:
            pass
    return out


def signal_when(title: str, sig: int, timeout_s: float = 300.0, root: int | None = None) -> int:
    """Wait (polling, bounded) until a process titled `title` appears, send it `sig`; returns its pid."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = processes(title, root)
        if found:
            os.kill(found[0].pid, sig)
            return found[0].pid
        time.sleep(0.02)
    raise TimeoutError(f"no process titled {title!r} within {timeout_s} s")


def rl_steps_logged(metrics: Path) -> int:
    """The highest RL step in a metrics file (0 before the first)."""
    if not metrics.exists():
        return 0
    steps = [r["step"] for r in map(json.loads, metrics.read_text().splitlines()) if r.get("stage") == "rl"]
    return max(steps, default=0)


def wait_for_step(metrics: Path, step: int, timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    while rl_steps_logged(metrics) < step:
        if time.monotonic() > deadline:
            raise TimeoutError(f"RL step {step} not logged in {metrics} within {timeout_s} s")
        time.sleep(0.05)


class Script(threading.Thread):
    """Runs fault injections in order beside a job: each waits for an RL step to be logged, then for
    a process doing the named work, and signals it. `done` holds (title, signal, pid) per injection."""

    def __init__(self, metrics: Path, faults: list[tuple[int, str, int]]):
        super().__init__(daemon=True)
        self.metrics, self.faults = metrics, faults
        self.done: list[tuple[str, int, int]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for after_step, title, sig in self.faults:
                wait_for_step(self.metrics, after_step)
                self.done.append((title, sig, signal_when(title, sig)))
        except BaseException as err:  # reported by the test
            self.error = err


SIGKILL, SIGSTOP = signal.SIGKILL, signal.SIGSTOP
