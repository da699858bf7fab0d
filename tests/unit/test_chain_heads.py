"""The committed chain heads a PostgreSQL writer remembers instead of reading them again."""

from __future__ import annotations

import threading

from tests.support.concurrency import joined
from tris.storage.postgres import ChainHeads

AGREEMENT = "3f1c2b9e-0000-4000-8000-000000000001"


def test_a_head_counts_only_once_its_transaction_committed() -> None:
    heads = ChainHeads()
    heads.written([(AGREEMENT, 1, "h1", "")])
    assert heads.get(AGREEMENT, 1) is None

    heads.committed()

    assert heads.get(AGREEMENT, 1) == "h1"


def test_a_transaction_that_did_not_commit_leaves_the_last_committed_head() -> None:
    heads = ChainHeads()
    heads.written([(AGREEMENT, 1, "h1", "")])
    heads.committed()
    heads.written([(AGREEMENT, 2, "h2", "h1")])

    heads.discard()
    heads.committed()  # nothing pending any more

    assert heads.get(AGREEMENT, 1) == "h1"
    assert heads.get(AGREEMENT, 2) is None


def test_only_the_version_last_written_is_answered() -> None:
    heads = ChainHeads()
    heads.written([(AGREEMENT, 4, "h4", "h3"), (AGREEMENT, 5, "h5", "h4")])
    heads.committed()

    # Another process may have written version 6 since: a writer that loaded version 6
    # asks for it and must read it from the database.
    assert heads.get(AGREEMENT, 5) == "h5"
    assert heads.get(AGREEMENT, 4) is None
    assert heads.get(AGREEMENT, 6) is None


def test_pending_rows_belong_to_the_thread_that_wrote_them() -> None:
    heads = ChainHeads()
    heads.written([(AGREEMENT, 1, "mine", "")])
    other = threading.Thread(target=heads.committed)
    other.start()
    joined(other)

    assert heads.get(AGREEMENT, 1) is None
    heads.committed()
    assert heads.get(AGREEMENT, 1) == "mine"


def test_the_oldest_heads_are_forgotten_beyond_the_size() -> None:
    heads = ChainHeads(size=2)
    for n in range(3):
        heads.written([(f"agreement-{n}", 1, f"h{n}", "")])
        heads.committed()

    assert heads.get("agreement-0", 1) is None
    assert heads.get("agreement-2", 1) == "h2"
