"""CPU seconds of a process tree, from Linux's /proc: the process, its live descendants, and
the children it has already reaped (a server's exited backends or workers)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return None


def _children_of() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU of `pid` and every descendant, reaped children included."""
    children = _children_of()
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        fields = _stat(current)
        if fields is None:
            continue
        # After the command: state ppid pgrp session tty tpgid flags minflt cminflt majflt
        # cmajflt utime stime cutime cstime …
        total += sum(int(v) for v in fields[11:15])
        pending.extend(children.get(current, []))
    return total / TICKS


def postmaster_pid(data_dir: Path) -> int:
    """The PostgreSQL postmaster's pid from its data directory."""
    return int((data_dir / "postmaster.pid").read_text().splitlines()[0])
