"""Running a test's work in several threads at once and collecting what went wrong."""

from __future__ import annotations

import threading
from collections.abc import Callable


def joined(*threads: threading.Thread, timeout: float = 120.0) -> None:
    """Wait for threads to end, each at most `timeout` seconds: a thread still running then
    is a hang, and the test fails instead of waiting for ever."""
    for thread in threads:
        thread.join(timeout=timeout)
    alive = [thread.name for thread in threads if thread.is_alive()]
    assert not alive, f"threads still running after {timeout:g} s: {alive}"


def run_in_threads(work: Callable[[int], None], count: int) -> list[BaseException]:
    """Run `work(0)` … `work(count - 1)` in threads started together; the errors raised."""
    errors: list[BaseException] = []

    def guarded(n: int) -> None:
        try:
            work(n)
        except BaseException as exc:  # reported to the test, which asserts there are none
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    joined(*threads)
    return errors
