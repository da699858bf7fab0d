"""The benchmark harness's pure helpers: statistics, the data shape, the table, the results file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from benchmarks.cpu import tree_cpu_seconds
from benchmarks.load import signing_payload
from benchmarks.run import parse, shape_for
from benchmarks.stats import format_table, median, percentile, rate, ratio, write_results
from tris.domain.signing import signing_payload as domain_signing_payload
from tris.domain.values import Commitment, CommitmentKind, Content, Terms


def test_median_of_odd_and_even_counts() -> None:
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5


def test_percentiles_interpolate_between_closest_ranks() -> None:
    data = list(range(1, 101))  # 1..100
    assert percentile(data, 0) == 1
    assert percentile(data, 100) == 100
    assert percentile(data, 50) == pytest.approx(50.5)
    assert percentile(data, 99) == pytest.approx(99.01)
    assert percentile([7], 99) == 7


def test_statistics_of_nothing_are_refused() -> None:
    with pytest.raises(ValueError):
        median([])
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_rates_and_ratios_never_divide_by_zero() -> None:
    assert rate(10, 2.0) == 5
    assert rate(10, 0.0) == 0
    assert ratio(3, 2) == 1.5
    assert ratio(3, 0) is None


@pytest.mark.parametrize("agreements, events", [(1000, 1000), (1000, 3000), (1000, 10_000)])
def test_the_data_shape_gives_about_the_events_asked_for(agreements: int, events: int) -> None:
    shape = shape_for(agreements, events)
    written = sum(1 if d < 0 else 5 + 2 * d for d in map(shape, range(agreements)))
    assert events - 6 < written <= events


@pytest.mark.parametrize(
    "argv, rebuilds",
    [([], 3), (["--rounds", "5"], 5), (["--full"], 1), (["--full", "--rebuild-rounds", "2"], 2)],
)
def test_the_rebuild_is_measured_as_many_rounds_as_raw_decoding_unless_told(
    argv: list[str], rebuilds: int
) -> None:
    assert parse(argv).rebuild_rounds == rebuilds


def test_results_are_written_as_sorted_json(tmp_path: Path) -> None:
    target = tmp_path / "results" / "latest.json"
    write_results(target, {"b": 2.5, "a": None, "api_vs_naive": 0.4})
    text = target.read_text()
    assert json.loads(text) == {"a": None, "api_vs_naive": 0.4, "b": 2.5}
    assert text.index('"a"') < text.index('"b"')
    assert not list(target.parent.glob("*.tmp"))


def test_the_table_shows_pending_values_and_aligns_numbers() -> None:
    table = format_table([("rate", 1234.5, "per second"), ("export", None, "not built yet")])
    lines = table.splitlines()
    assert "1,234" in lines[2] or "1,235" in lines[2]
    assert "pending" in lines[3]


def test_the_load_signs_exactly_the_payload_the_domain_defines() -> None:
    content = Content(
        title="Kiezküche",
        purpose="Kochen",
        parties=("p1", "p2"),
        terms=Terms(text="ohne Geld"),
        commitments=(
            Commitment("C1", "p1", "p2", CommitmentKind.TIME, Decimal("2"),
                       "hours", "Kochen mit Azubis"),
        ),
    )  # fmt: skip
    view_content = content.to_dict()
    view_content["commitments"][0].update(status="open", confirmed_quantity="0")
    view = {"revision": 2, "content": view_content}
    assert signing_payload("a-1", view) == domain_signing_payload("a-1", 2, content)


def test_the_cpu_of_a_process_tree_counts_its_children_reaped_or_alive() -> None:
    burn = "sum(i * i for i in range(3_000_000))"
    before = tree_cpu_seconds(os.getpid())
    subprocess.run([sys.executable, "-c", burn], check=True)  # reaped: our cutime
    with subprocess.Popen([sys.executable, "-c", f"{burn}; import time; time.sleep(5)"]) as alive:
        time.sleep(0.1)
        deadline = time.monotonic() + 20
        while tree_cpu_seconds(alive.pid) < 0.05 and time.monotonic() < deadline:
            time.sleep(0.05)
        during = tree_cpu_seconds(os.getpid())
        alive.kill()
    assert during - before > 0.1  # both children's work, though neither is this process
