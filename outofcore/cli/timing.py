"""The wall time a command took, as its user waited for it: from the process's start, by phase.

Times are read from the monotonic clock: the wall clock may be stepped while a command runs (a
time sync, a virtual machine resumed), which would show in its timings.
"""

import os
import time


def process_age():
    """Seconds since this process started: the user's wait so far."""
    try:
        # Linux: the start in clock ticks since boot, against the seconds since boot; both
        # count from the same instant, and neither moves with the wall clock.
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        import psutil

        return max(0.0, time.time() - psutil.Process().create_time())


def waited():
    """Seconds the user has waited for this command so far: the process's age, unless the
    process began as something else. ``bash -c '... && outofcore demo'`` replaces the shell
    with the command, whose process then started with the shell; an age more than a few seconds
    beyond the import of ``outofcore.cli`` (the interpreter's start-up and the package import
    take well under that) counts from that import instead."""
    from outofcore.cli import IMPORTED

    age, ours = process_age(), time.monotonic() - IMPORTED
    return ours if age - ours > 5.0 else age


def seconds(value):
    """Seconds for people: ``"85 ms"``, ``"2.4 s"``, ``"131 s"``."""
    if value < 0.1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.1f} s" if value < 100 else f"{value:.0f} s"


class Stopwatch:
    """Laps of wall time, each credited to a named phase, from ``age`` seconds ago (default:
    now).

    Examples
    --------
    >>> watch = Stopwatch()
    >>> watch.lap("start-up")
    >>> watch.lap("compiling")
    >>> watch.line().startswith("took ")
    True
    """

    def __init__(self, age=0.0):
        self.origin = time.monotonic() - age
        self.phases = {}
        self._last = self.origin

    def lap(self, phase):
        """Credit the time since the previous lap to ``phase``."""
        now = time.monotonic()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - self._last
        self._last = now

    def lap_split(self, measured, rest):
        """Credit the time since the previous lap to the phases of ``measured`` (name ->
        seconds measured inside the lap), and what they leave to ``rest``."""
        now = time.monotonic()
        left = now - self._last
        for phase, value in measured.items():
            value = min(max(0.0, value), left)
            self.phases[phase] = self.phases.get(phase, 0.0) + value
            left -= value
        self.phases[rest] = self.phases.get(rest, 0.0) + left
        self._last = now

    def total(self):
        """Seconds from the origin to the last lap."""
        return self._last - self.origin

    def line(self, details=None):
        """``"took 7.1 s: start-up 1.2 s, reading 2.6 s (...), ..."``; ``details`` maps a phase
        to words shown in brackets after it."""
        parts = []
        for phase, value in self.phases.items():
            text = f"{phase} {seconds(value)}"
            if details and details.get(phase):
                text += f" ({details[phase]})"
            parts.append(text)
        return f"took {seconds(self.total())}: " + ", ".join(parts)
