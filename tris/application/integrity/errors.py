"""Errors of the verifiable history, placed in the domain error tree for the interfaces.

NotFoundError
└── LogEntryNotFoundError      no event at that position in the Merkle log (404)
InvalidInputError
└── InvalidTreeSizeError       a tree size beyond the log, or first > second (422)
ConflictError
└── LogTamperedError           the stored log no longer matches a signed checkpoint (409)
"""

from __future__ import annotations

from tris.domain.errors import ConflictError, InvalidInputError, NotFoundError


class LogEntryNotFoundError(NotFoundError):
    """No event at this global position is in the Merkle log."""

    title = "Log entry not found"


class InvalidTreeSizeError(InvalidInputError):
    """A tree size is beyond the log, or the sizes of a consistency proof are out of order."""

    title = "Invalid tree size"


class LogTamperedError(ConflictError):
    """The stored log no longer matches what an earlier checkpoint signed: nothing is signed."""

    title = "Log does not match its checkpoints"
