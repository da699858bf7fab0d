"""Who is asking: roles, principals, and what each may see."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from tris.domain.errors import PermissionDeniedError
from tris.domain.values import OPERATOR, Actor


class Role(Enum):
    """The four kinds of token."""

    ADMIN = "admin"
    PARTNER = "partner"
    AUDITOR = "auditor"
    RESEARCHER = "researcher"

    @property
    def token_kind(self) -> str:
        """The role's tokens named with their article, for messages: `an admin token`."""
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
    def sees_personal_data(self) -> bool:
        """Contact persons are shown to admins and auditors only (and a party's own)."""
        return self.role in (Role.ADMIN, Role.AUDITOR)
