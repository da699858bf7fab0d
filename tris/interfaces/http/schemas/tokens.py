"""Schemas of API tokens."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from tris.interfaces.http.schemas.common import Input

# The roles a token can have (the public reads without one).
TokenRole = Literal["admin", "partner", "auditor", "researcher"]

# Stored as text: control characters (NUL above all) are refused up front.
Label = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


class PartnerTokenCreate(Input):
    """Options of a partner token."""

    label: Label | None = None


class TokenCreate(Input):
    """A token for an auditor or a researcher (admin and partner tokens are issued elsewhere)."""

    role: Literal["auditor", "researcher"]
    label: Label | None = None


class IssuedTokenView(BaseModel):
    """A new token: `token` is the secret, shown this once and never again."""

    token: str
    token_id: str
    role: TokenRole
    party_id: str | None = None


class TokenView(BaseModel):
    """An issued token as the admin sees it (never its secret)."""

    token_id: str
    role: TokenRole
    party_id: str | None
    label: str | None
    created_at: str
    revoked: bool


class TokenList(BaseModel):
    """Every token."""

    items: list[TokenView]
    next_cursor: str | None = None
