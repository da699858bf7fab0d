"""Commands over HTTP: `tris serve` against the naive peer, same workers, same load.

Both servers run at once on the same database (TRIS's tables and the stock library's
table side by side) with the same number of uvicorn worker processes; the load process
drives one, then the other, at each concurrency, round after round, so that drift of
the machine touches both alike. Also measured here: the stock `Application.save` in one
thread on the same database (`library_save_per_s`).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.cpu import postmaster_pid, tree_cpu_seconds
from benchmarks.data import Member, register_members, trios
from benchmarks.environment import (
    Bench,
    background_process,
    free_port,
    python,
    server_process,
)
from benchmarks.stats import median
from benchmarks.stock import saves_per_second

LOAD_TIMEOUT = 300


@dataclass(frozen=True)
class ApiPlan:
    """How the HTTP benchmark runs."""

    workers: int = 2
    concurrencies: tuple[int, ...] = (1, 16)
    rounds: int = 3
    warmup: float = 1.5
    duration: float = 8.0
    projections: str = "auto"
    projection_worker: bool = False
    library_seconds: float = 4.0  # 0: the library's saves are not measured


def write_members(path: Path, members: list[Member], count: int) -> None:
    """The parties of `count` trios, for the load process."""
    cast = trios(members)
    chosen = [next(cast) for _ in range(count)]
    path.write_text(json.dumps({"trios": [m.to_json() for trio in chosen for m in trio]}))


def run_load(base_url: str, scenario: str, concurrency: int, plan: ApiPlan, members: Path) -> Any:
    """One run of the load process; its JSON summary."""
    argv = [
        python(), "-m", "benchmarks.load", "--base-url", base_url, "--scenario", scenario,
        "--concurrency", str(concurrency), "--warmup", str(plan.warmup),
        "--duration", str(plan.duration), "--members", str(members),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=LOAD_TIMEOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"load process failed: {done.stderr[-3000:]}")
    result = json.loads(done.stdout)
    if result["errors"]:
        raise RuntimeError(f"{scenario} at {concurrency}: unexpected responses {result}")
    return result


def measure(bench: Bench, database_url: str, plan: ApiPlan, log: Any = print) -> dict[str, Any]:
    """The HTTP and library-save measurements, medians over rounds."""
    services = bench.services(database_url)
    try:
        members = register_members(services, 3 * 16, prefix="Lastprobe")
    finally:
        services.close()
    members_file = bench.directory / "members.json"
    write_members(members_file, members, 16)

    library = []
    if plan.library_seconds > 0:
        library = [saves_per_second(database_url, plan.library_seconds) for _ in range(plan.rounds)]
        log(f"  library save: {[round(r['per_s']) for r in library]} /s")

    env = bench.env(database_url, TRIS_PROJECTIONS=plan.projections)
    tris_port, naive_port = free_port(), free_port()
    tris_argv = [python(), "-O", "-m", "tris", "serve", "--port", str(tris_port),
                 "--workers", str(plan.workers)]  # fmt: skip
    naive_argv = [python(), "-O", "-m", "benchmarks.naive_peer", "--port", str(naive_port),
                  "--workers", str(plan.workers)]  # fmt: skip
    naive_env = {**env, "NAIVE_DATABASE_URL": database_url}
    runs: dict[tuple[str, int], list[Any]] = {}
    with (
        server_process(
            tris_argv, env, tris_port, bench.directory / "tris-serve.log", plan.workers
        ) as tris,
        server_process(
            naive_argv, naive_env, naive_port, bench.directory / "naive.log", plan.workers
        ) as naive,
        _maybe_worker(bench, env, plan),
    ):
        database = postmaster_pid(bench.cluster.data_dir)
        for round_number in range(plan.rounds):
            for concurrency in plan.concurrencies:
                for scenario, (url, pid) in (("tris", tris), ("naive", naive)):
                    server_before, db_before = tree_cpu_seconds(pid), tree_cpu_seconds(database)
                    result = run_load(url, scenario, concurrency, plan, members_file)
                    commands = max(result["all_requests"], 1)
                    result["server_cpu_ms"] = (tree_cpu_seconds(pid) - server_before) / commands
                    result["db_cpu_ms"] = (tree_cpu_seconds(database) - db_before) / commands
                    result["load_cpu_ms"] = result["load_cpu_s"] / commands
                    for key in ("server_cpu_ms", "db_cpu_ms", "load_cpu_ms"):
                        result[key] *= 1000
                    result["cpu_ms"] = sum(
                        result[k] for k in ("server_cpu_ms", "db_cpu_ms", "load_cpu_ms")
                    )
                    runs.setdefault((scenario, concurrency), []).append(result)
                    log(
                        f"  round {round_number + 1} {scenario:5} c={concurrency:<2} "
                        f"workers={plan.workers} "
                        f"{result['per_s']:7.0f}/s  p50 {result['p50_ms']:.1f} ms  "
                        f"p99 {result['p99_ms']:.1f} ms  cpu/command {result['cpu_ms']:.2f} ms "
                        f"(server {result['server_cpu_ms']:.2f}, db {result['db_cpu_ms']:.2f}, "
                        f"load {result['load_cpu_ms']:.2f})"
                    )
    return summarise(runs, library, plan)


def _maybe_worker(bench: Bench, env: dict[str, str], plan: ApiPlan) -> Any:
    from contextlib import nullcontext

    if not plan.projection_worker:
        return nullcontext()
    argv = [python(), "-O", "-m", "tris", "worker"]
    return background_process(argv, env, bench.directory / "tris-worker.log")


def summarise(
    runs: dict[tuple[str, int], list[Any]], library: list[dict[str, Any]], plan: ApiPlan
) -> dict[str, Any]:
    """Medians over rounds, under the keys of the results file."""
    top = max(plan.concurrencies)
    out: dict[str, Any] = {}
    if library:
        out["library_save_per_s"] = median(r["per_s"] for r in library)
    for (scenario, concurrency), results in runs.items():
        prefix = "api" if scenario == "tris" else "naive_peer"
        out[f"{prefix}_commands_per_s_c{concurrency}"] = median(r["per_s"] for r in results)
        out[f"{prefix}_p50_ms_c{concurrency}"] = median(r["p50_ms"] for r in results)
        out[f"{prefix}_p99_ms_c{concurrency}"] = median(r["p99_ms"] for r in results)
        for part in ("cpu_ms", "server_cpu_ms", "db_cpu_ms", "load_cpu_ms"):
            out[f"{prefix}_{part}_per_command_c{concurrency}"] = median(r[part] for r in results)
    out["api_commands_per_s"] = out[f"api_commands_per_s_c{top}"]
    out["api_p50_ms"] = out[f"api_p50_ms_c{top}"]
    out["api_p99_ms"] = out[f"api_p99_ms_c{top}"]
    out["naive_peer_commands_per_s"] = out[f"naive_peer_commands_per_s_c{top}"]
    # CPU of the server processes, PostgreSQL and the load generator per command, at the
    # top concurrency (issue 16's cpu_ms_per_command).
    out["cpu_ms_per_command"] = out[f"api_cpu_ms_per_command_c{top}"]
    out["naive_peer_cpu_ms_per_command"] = out[f"naive_peer_cpu_ms_per_command_c{top}"]
    out["api_concurrency"] = top
    out["api_workers"] = plan.workers
    out["api_command_mix"] = runs[("tris", top)][0]["by_kind"]
    return out
