"""CPU time from /proc (Linux), for the HTTP benchmarks: a server's own CPU per request, and the machine's
time by state (steal shows what a shared VM's hypervisor took during a run)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["machine_ticks", "tree_cpu_seconds"]

_TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU time of process ``root`` and its descendants so far, in seconds. Descendants that
    ended are not counted: the benchmarks' servers keep their workers for the whole run."""
    parents: dict[int, int] = {}
    times: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = int(fields[11]) + int(fields[12])
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += times.get(pid, 0)
        stack.extend(child for child, parent in parents.items() if parent == pid)
    return total / _TICK


def machine_ticks() -> list[int]:
    """The machine's CPU time by state (user, nice, system, idle, iowait, irq, softirq, steal), in ticks."""
    return [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
