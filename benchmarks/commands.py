"""Command-line jobs over the whole log: `tris export` (NDJSON) and `tris verify --store`.

Each runs as its own process, as an operator would run it; its wall time and its peak
resident memory are measured. The peak is the process's own `VmHWM` (the high-water mark
of the memory it has since it started `tris`), written when it exits. `wait4`'s
`ru_maxrss` would not do: Linux carries a forked child's maximum over `exec`, so a
child of the (large) benchmark process reports at least the benchmark's own size.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.environment import REPO, python

TIMEOUT = 3600
# Runs `tris` in this process and, at exit, writes its VmHWM (KiB) to $TRIS_BENCH_HWM_FILE.
PEAK_WRAPPER = """
import atexit, os, runpy, sys

def report():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                with open(os.environ["TRIS_BENCH_HWM_FILE"], "w") as out:
                    out.write(line.split()[1])

atexit.register(report)
sys.argv = ["tris", *sys.argv[1:]]
runpy.run_module("tris", run_name="__main__", alter_sys=True)
"""


@dataclass(frozen=True)
class Job:
    """One finished command: exit status, wall seconds, peak RSS (MiB), its output file."""

    returncode: int
    seconds: float
    peak_rss_mb: float
    output: Path


def run_job(argv: list[str], env: dict[str, str], output: Path) -> Job:
    """Run `python -O -m tris …` with stdout to a file; measure time and its peak RSS."""
    assert argv[1:4] == ["-O", "-m", "tris"], argv
    peak_file = output.with_suffix(".hwm")
    peak_file.unlink(missing_ok=True)
    argv = [argv[0], "-O", "-c", PEAK_WRAPPER, *argv[4:]]
    env = {**env, "TRIS_BENCH_HWM_FILE": str(peak_file)}
    with output.open("wb") as out, (output.with_suffix(".stderr")).open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, env=env, cwd=REPO, stdout=out, stderr=err)
        deadline = started + TIMEOUT
        while True:
            pid, status = os.waitpid(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status = os.waitpid(process.pid, 0)
                break
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    peak_kib = int(peak_file.read_text()) if peak_file.exists() else 0
    return Job(process.returncode, elapsed, peak_kib / 1024, output)


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
