"""CPU time of the broker, from its own accounting.

The Erlang VM (`beam.smp`) runs every part of the node, so its utime + stime
from /proc/PID/stat is everything the broker spent, on every scheduler thread.
Part of it is background work that has nothing to do with reads: with 20,000
queues, the statistics collection every interval is the largest part. That
background is measured alone first (`idle_rate`) and subtracted from each
measurement in proportion to its wall time; both the raw and the net figures
are printed. The clock tick is 10 ms, so windows are kept long enough or
repeated.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid`, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # fields 14 and 15 of stat(5)


@dataclass(frozen=True, slots=True)
class Spent:
    """What the broker spent during one window."""

    raw: float  # CPU seconds
    wall: float  # seconds
    idle_rate: float  # background CPU seconds per second

    @property
    def net(self) -> float:
        """CPU seconds beyond the background's share of the window."""
        return self.raw - self.idle_rate * self.wall


class BrokerCpu:
    """Measures windows of the broker's CPU time."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.idle_rate = 0.0

    def measure_idle(self, seconds: float) -> float:
        """The background rate, over `seconds` of nothing asked of the broker."""
        before, started = cpu_seconds(self.pid), time.monotonic()
        time.sleep(seconds)
        self.idle_rate = (cpu_seconds(self.pid) - before) / (time.monotonic() - started)
        return self.idle_rate

    def window(self) -> Window:
        """Start a window; `Window.stop()` ends it."""
        return Window(self)


class Window:
    """One measurement window."""

    def __init__(self, cpu: BrokerCpu) -> None:
        self._cpu = cpu
        self._before = cpu_seconds(cpu.pid)
        self._started = time.monotonic()

    def stop(self) -> Spent:
        """What the broker spent since the window started."""
        raw = cpu_seconds(self._cpu.pid) - self._before
        return Spent(raw, time.monotonic() - self._started, self._cpu.idle_rate)
