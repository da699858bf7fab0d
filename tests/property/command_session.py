"""A session of random agreement commands driven by hypothesis: the parties of one example,
the agreements they made, and a command for each, suited to an agreement's status, mostly
(shared by the property tests that run commands through the use cases)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import event
from hypothesis import strategies as st

from tests.property.agreement_model import content_drafts, days, evidences, pick, reasons
from tests.support.scenario import Member, World
from tris.domain.errors import DomainError
from tris.domain.signing import key_registration
from tris.domain.values import CommitmentDraft, CommitmentKind, ContentDraft, Sector, Terms

OUTSIDER = str(UUID(int=999))
# What the parties try next, by the status of the agreement at hand: mostly what moves it on,
# sometimes what the status forbids.
NEXT_COMMANDS = {
    "proposed": ("sign",) * 6 + ("revise", "decline", "withdraw", "record", "amend", "propose"),
    "in_force": ("record", "confirm") * 3
    + ("sign", "sign", "amend", "reject", "dispute", "terminate", "revise", "rotate_key"),
    "other": ("propose", "sign", "revise", "record", "confirm", "amend", "terminate"),
}


class Session:
    """The parties of one example and the agreements they made, driven by hypothesis."""

    def __init__(self, world: World, data: st.DataObject) -> None:
        self.world = world
        self.data = data
        self.agreements: list[str] = []
        self.current = ""

    @property
    def members(self) -> list[Member]:
        """Every party of this example."""
        return list(self.world.members.values())

    def member(self) -> Member:
        """Any party of this example."""
        return pick(self.data.draw, self.members)

    def view(self, agreement_id: str) -> dict[str, Any]:
        """The agreement as the operator sees it now."""
        return self.world.services.agreements.get(self.world.admin, agreement_id)

    def draft(self, author: Member, view: dict[str, Any] | None) -> ContentDraft:
        """A random draft by `author`, keeping commitments of `view` now and then."""
        commitments = view["content"]["commitments"] if view else []
        return self.data.draw(
            content_drafts(
                author=author.party_id,
                pool=tuple(m.party_id for m in self.members),
                outsider=OUTSIDER,
                base_ids=tuple(c["id"] for c in commitments),
                other_ids=(),
                confirmed={c["id"]: Decimal(c["confirmed_quantity"]) for c in commitments},
            )
        )

    def next_command(self) -> None:
        """Pick an agreement of this example and run a command suited to its status, mostly."""
        self.current = pick(self.data.draw, self.agreements)
        status = self.view(self.current)["status"]
        self.run(pick(self.data.draw, NEXT_COMMANDS.get(status, NEXT_COMMANDS["other"])))

    def run(self, command: str) -> None:
        """Run one command; a refusal is a DomainError, anything else fails the test."""
        try:
            getattr(self, f"do_{command}")()
        except DomainError as refusal:
            event(f"refused {command}: {type(refusal).__name__}")
        else:
            event(f"accepted {command}")

    # ------------------------------------------------------------------ commands

    def do_propose(self) -> None:
        """Propose an agreement (a random draft, maybe a flawed one)."""
        author = self.member()
        outcome = self.world.services.agreements.propose(author.ctx(), self.draft(author, None))
        self.agreements.append(outcome.body["id"])

    def do_revise(self) -> None:
        """Replace a proposal's content."""
        agreement_id, author = self.agreement(), self.member()
        draft = self.draft(author, self.view(agreement_id))
        rationale = self.data.draw(reasons)
        self.world.services.agreements.revise(author.ctx(), agreement_id, draft, rationale)

    def do_sign(self) -> None:
        """Sign the latest revision (now and then a stale one) with the member's key."""
        agreement_id = self.agreement()
        view = self.view(agreement_id)
        unsigned = [
            p["party_id"] for p in view["parties"] if p["in_latest_revision"] and not p["signed"]
        ]
        signers = [m for m in self.members if m.party_id in unsigned] or self.members
        revision = view["revision"] - self.data.draw(st.sampled_from([0, 0, 0, 1]))
        self.world.sign(pick(self.data.draw, signers), agreement_id, revision)

    def do_decline(self) -> None:
        """Decline the latest revision."""
        self.world.services.agreements.decline(
            self.member().ctx(), self.agreement(), self.data.draw(reasons)
        )

    def do_withdraw(self) -> None:
        """Withdraw a proposal."""
        self.world.services.agreements.withdraw(
            self.member().ctx(), self.agreement(), self.data.draw(reasons)
        )

    def do_amend(self) -> None:
        """Propose an amendment."""
        agreement_id, author = self.agreement(), self.member()
        draft = self.draft(author, self.view(agreement_id))
        self.world.services.agreements.propose_amendment(
            author.ctx(), agreement_id, draft, self.data.draw(reasons)
        )

    def do_reject(self) -> None:
        """Reject the pending amendment."""
        agreement_id = self.agreement()
        revision = self.view(agreement_id)["pending_amendment"] or 1
        self.world.services.agreements.reject_amendment(
            self.member().ctx(), agreement_id, revision, self.data.draw(reasons)
        )

    def do_record(self) -> None:
        """The debtor records a delivery, often exactly what is still owed."""
        agreement_id = self.agreement()
        commitments = self.view(agreement_id)["content"]["commitments"]
        commitment = pick(self.data.draw, commitments)
        owed = Decimal(commitment["quantity"]) - Decimal(commitment["confirmed_quantity"])
        quantity = self.data.draw(
            st.sampled_from([str(owed) if owed > 0 else "1", "0.5", "1", "abc"])
        )
        debtors = [m for m in self.members if m.party_id == commitment["debtor"]]
        recorder = pick(self.data.draw, debtors or self.members)
        self.world.services.agreements.record_fulfilment(
            recorder.ctx(),
            agreement_id,
            commitment["id"],
            quantity,
            self.data.draw(days),
            "Geliefert",
            self.data.draw(evidences),
        )

    def settle(self, confirm: bool) -> None:
        """Another party confirms or disputes a recorded delivery."""
        agreement_id = self.agreement()
        fulfilments = self.view(agreement_id)["fulfilments"] or [{"id": "F1", "debtor": ""}]
        fulfilment = pick(self.data.draw, fulfilments)
        others = [m for m in self.members if m.party_id != fulfilment["debtor"]]
        settler = pick(self.data.draw, others)
        agreements = self.world.services.agreements
        if confirm:
            agreements.confirm_fulfilment(settler.ctx(), agreement_id, fulfilment["id"])
        else:
            agreements.dispute_fulfilment(
                settler.ctx(), agreement_id, fulfilment["id"], self.data.draw(reasons)
            )

    def do_confirm(self) -> None:
        """Confirm a delivery."""
        self.settle(confirm=True)

    def do_dispute(self) -> None:
        """Dispute a delivery."""
        self.settle(confirm=False)

    def do_terminate(self) -> None:
        """Terminate an agreement in force."""
        self.world.services.agreements.terminate(
            self.member().ctx(), self.agreement(), self.data.draw(reasons)
        )

    def do_rotate_key(self) -> None:
        """A party registers a new signing key and revokes the old one."""
        member = self.member()
        parties = self.world.services.parties
        private = Ed25519PrivateKey.generate()
        registration = key_registration(private, member.party_id)
        key_id = parties.register_signing_key(member.ctx(), member.party_id, *registration).body[
            "key_id"
        ]
        parties.revoke_signing_key(member.ctx(), member.party_id, member.key_id)
        member.private_key, member.key_id = private, key_id

    def agreement(self) -> str:
        """The agreement the current command is about."""
        return self.current


def fallback_draft(members: list[Member]) -> ContentDraft:
    """A valid draft between the first two members."""
    return ContentDraft(
        title="Kiezküche Moabit",
        purpose="Gemeinsam ein Mittagessen für Nachbarn organisieren",
        parties=(members[0].party_id, members[1].party_id),
        terms=Terms(text="Nach dem Marktplatz-Prinzip, ohne Geld"),
        commitments=(
            CommitmentDraft(
                members[0].party_id,
                members[1].party_id,
                CommitmentKind.TIME,
                "10",
                "hours",
                "Kochen mit Azubis",
            ),
        ),
    )


def add_parties(world: World, sectors: list[Sector]) -> None:
    """One party of each of these sectors, named apart from every other example's."""
    for index, sector in enumerate(sectors):
        world.add(f"Partei {index + 1} {uuid.uuid4().hex[:6]}", sector)


def play(session: Session, steps: int) -> None:
    """A proposal (the fallback draft when the drawn one is refused), then `steps` commands."""
    session.run("propose")
    if not session.agreements:
        proposer = session.members[0]
        draft = fallback_draft(session.members)
        created = session.world.services.agreements.propose(proposer.ctx(), draft)
        session.agreements.append(created.body["id"])
    for _ in range(steps):
        session.next_command()
