"""Run the installed ``iam`` command as a user would, find free loopback ports, wait for a change to arrive,
see which process holds which connection (Linux /proc)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

IAM = str(Path(sys.executable).parent / "iam")


def run_iam(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IAM_")}
    environment.update(env or {})
    return subprocess.run([IAM, *args], cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=timeout, check=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def poll(call: Callable[[], Any], *, until: Callable[[Any], bool], seconds: float = 10.0) -> Any:
    """Call until ``until(result)`` holds or ``seconds`` pass; return the last result (bounded wait for the
    change bus, which delivers within a second; SQLite polls every 0.2 s)."""
    deadline = time.monotonic() + seconds
    result = call()
    while not until(result) and time.monotonic() < deadline:
        time.sleep(0.05)
        result = call()
    return result


def sockets_on(port: int) -> tuple[int, dict[str, str]]:
    """Listening sockets on ``port`` (IPv4), and the inode of each established connection to it by the
    client's port (from /proc/net/tcp)."""
    listening, established = 0, {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        if int(local.split(":")[1], 16) != port:
            continue
        if state == "0A":
            listening += 1
        elif state == "01":
            established[str(int(remote.split(":")[1], 16))] = inode
    return listening, established


def sockets_held(parent: int, inodes: set[str]) -> list[int]:
    """For each of ``parent``'s child processes, how many of the sockets ``inodes`` it holds."""
    counts = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) != parent:
                continue
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except OSError:
            continue  # gone meanwhile
        counts.append(sum(f"socket:[{inode}]" in links for inode in inodes))
    return sorted(counts)
