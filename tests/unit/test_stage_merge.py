"""What a rebuild's stage refuses to take from a partner (ADR 27): rows the partner's
protocol never hands over, refused before anything of the partner's file is read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tris.application.readmodels.catalogue import default_projections
from tris.storage.stage import Stage

SUMS = {"rm_commitment_totals": ("committed", "fulfilled")}
A_REVISION = ("agreement", 1, "{}", "{}")


def _never_called(a: Any, b: Any) -> Any:
    raise AssertionError("nothing is added up in a refused merge")


@pytest.mark.parametrize(
    "how, refusal",
    [
        (
            {"copy_rows": True, "prefilled": {"rm_revisions": (1, 1)}},
            "a partner's prefilled tables are only for its last stage",
        ),
        (
            {"copy_rows": True, "held": {"rm_commitment_totals": [("k", "u", "m", "1", "0")]}},
            "rows held apart cannot be summed: rm_commitment_totals",
        ),
        (
            # The partner copied what it held of a table it filled: handed over as well,
            # its rows would be written twice.
            {
                "copy_rows": False,
                "held": {"rm_revisions": [A_REVISION]},
                "prefilled": {"rm_revisions": (1, 1)},
            },
            "rows held apart were copied already: rm_revisions",
        ),
    ],
    ids=["prefilled but not last", "held and summed", "held and prefilled"],
)
def test_a_merge_refuses_what_a_partner_never_hands_over_and_stays_usable(
    tmp_path: Path, how: dict[str, Any], refusal: str
) -> None:
    projections = default_projections()
    partner_file = tmp_path / "partner.db"
    with Stage(projections, partner_file):
        pass  # the partner's stage, its tables empty
    with Stage(projections) as stage:
        with pytest.raises(ValueError) as refused:
            stage.merge(partner_file, SUMS, _never_called, **how)
        assert str(refused.value) == refusal
        # Refused before the partner's file was attached: a merge can follow.
        stage.merge(partner_file, SUMS, _never_called)
