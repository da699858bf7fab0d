"""Who is asking: roles, principals, and what each may see."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from tris.domain.errors import PermissionDeniedError
from tris.domain.values import OPERATOR, Actor


class Role(Enum):
    """The four kinds of token, and the public that reads without one."""

    ADMIN = "admin"
    PARTNER = "partner"
    AUDITOR = "auditor"
    RESEARCHER = "researcher"
    # No token: reads what is published under /v1/public/ and the portal; never issued.
    PUBLIC = "public"

    @property
    def token_kind(self) -> str:
        """The role's tokens named with their article, for messages: `an admin token`."""
        if self is Role.PUBLIC:
            return "a request without a token"
        article = "an" if self.value[0] in "aeiou" else "a"
        return f"{article} {self.value} token"


@dataclass(frozen=True)
class Principal:
    """An authenticated token: its id, role and (for partners) its party."""

    token_id: str
    role: Role
    party_id: str | None = None

    @property
    def actor(self) -> Actor:
        """The actor recorded on events this principal causes."""
        if self.role is Role.PARTNER and self.party_id:
            return Actor(self.party_id, self.token_id)
        if self.role is Role.ADMIN:
            return Actor(OPERATOR, self.token_id)
        raise PermissionDeniedError(f"{self.role.token_kind} cannot change anything")

    @property
    def sees_everything(self) -> bool:
        """Admins and auditors read every agreement."""
        return self.role in (Role.ADMIN, Role.AUDITOR)

    @property
    def published_only(self) -> bool:
        """The public reads published agreements only, and no personal data."""
        return self.role is Role.PUBLIC

    @property
    def sees_personal_data(self) -> bool:
        """Contact persons are shown to admins and auditors only (and a party's own)."""
        return self.role in (Role.ADMIN, Role.AUDITOR)


# Whoever reads /v1/public/ and the public pages: no token, no party.
PUBLIC = Principal(token_id="public", role=Role.PUBLIC)  # noqa: S106 - not a secret
