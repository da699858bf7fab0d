"""Command-line jobs over the whole log: `tris export` (NDJSON) and `tris verify --store`.

Each runs as its own process, as an operator would run it; its wall time and its peak
resident memory (from the kernel's accounting of that one child, `wait4`) are measured.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.environment import REPO, python

TIMEOUT = 3600


@dataclass(frozen=True)
class Job:
    """One finished command: exit status, wall seconds, peak RSS (MiB), its output file."""

    returncode: int
    seconds: float
    peak_rss_mb: float
    output: Path


def run_job(argv: list[str], env: dict[str, str], output: Path) -> Job:
    """Run a command with stdout to a file; measure time and the child's own peak RSS."""
    with output.open("wb") as out, (output.with_suffix(".stderr")).open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, env=env, cwd=REPO, stdout=out, stderr=err)
        deadline = started + TIMEOUT
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Job(process.returncode, elapsed, usage.ru_maxrss / 1024, output)


def command_exists(name: str, env: dict[str, str]) -> bool:
    """Whether `tris NAME --help` works in this version of TRIS."""
    done = subprocess.run(
        [python(), "-m", "tris", name, "--help"],
        env=env, cwd=REPO, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    return done.returncode == 0


def count_lines(path: Path) -> int:
    """Lines in a file, read in blocks."""
    lines = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
    return lines


def export(env: dict[str, str], directory: Path) -> Job:
    """`tris export --out FILE` of the whole log; the job's output is that NDJSON file."""
    target = directory / "export.ndjson"
    argv = [python(), "-O", "-m", "tris", "export", "--out", str(target)]
    job = run_job(argv, env, directory / "export.stdout")
    return Job(job.returncode, job.seconds, job.peak_rss_mb, target)


def verify_store(env: dict[str, str], directory: Path) -> Job:
    """`tris verify --store`."""
    argv = [python(), "-O", "-m", "tris", "verify", "--store"]
    return run_job(argv, env, directory / "verify.txt")
