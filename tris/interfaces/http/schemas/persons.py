"""Schemas of data subjects: the answer to an erasure of personal data."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class PersonalDataErasure(BaseModel):
    """A contact person whose key was destroyed: their data can never be read again."""

    person_id: str
    party_id: str = Field(description="The party the person was a contact of")
    erased: Literal[True] = True
