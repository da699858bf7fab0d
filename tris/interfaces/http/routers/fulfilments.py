"""Fulfilments: deliveries recorded by debtors, confirmed or disputed by another party."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from tris.domain.agreement import Evidence
from tris.interfaces.http.deps import AgreementCommand, ServicesDep
from tris.interfaces.http.responses import (
    AGREEMENT_WRITE,
    WRITE_HEADERS,
    documented,
    respond,
)
from tris.interfaces.http.routing import OffLoopRoute
from tris.interfaces.http.schemas.agreements import (
    AgreementView,
    ConfirmationCreate,
    FulfilmentCreate,
    ReasonCreate,
    RecordedFulfilmentView,
)

router = APIRouter(
    prefix="/v1/agreements/{agreement_id}", tags=["fulfilments"], route_class=OffLoopRoute
)


@router.post(
    "/commitments/{commitment_id}/fulfilments",
    status_code=201,
    response_model=RecordedFulfilmentView,
    responses=documented(201, *AGREEMENT_WRITE, headers=WRITE_HEADERS),
    summary="Record a delivery (the commitment's debtor)",
)
def record_fulfilment(
    agreement_id: str,
    commitment_id: str,
    body: FulfilmentCreate,
    ctx: AgreementCommand,
    services: ServicesDep,
    response: Response,
) -> Any:
    """The debtor records a delivery against a commitment of the revision in force."""
    evidence = Evidence(body.evidence.url, body.evidence.sha256) if body.evidence else None
    outcome = services.agreements.record_fulfilment(
        ctx, agreement_id, commitment_id, body.quantity, body.delivered_on, body.note, evidence
    )
    return respond(response, outcome)


@router.post(
    "/fulfilments/{fulfilment_id}/confirmation",
    response_model=AgreementView,
    responses=documented(200, *AGREEMENT_WRITE, headers=WRITE_HEADERS),
    summary="Confirm a delivery (another party than its debtor)",
)
def confirm_fulfilment(
    agreement_id: str,
    fulfilment_id: str,
    ctx: AgreementCommand,
    services: ServicesDep,
    response: Response,
    body: ConfirmationCreate | None = None,
) -> Any:
    """Confirm a delivery; the last one needed completes the agreement."""
    outcome = services.agreements.confirm_fulfilment(ctx, agreement_id, fulfilment_id)
    return respond(response, outcome)


@router.post(
    "/fulfilments/{fulfilment_id}/dispute",
    response_model=AgreementView,
    responses=documented(200, *AGREEMENT_WRITE, headers=WRITE_HEADERS),
    summary="Dispute a delivery (another party than its debtor)",
)
def dispute_fulfilment(
    agreement_id: str,
    fulfilment_id: str,
    body: ReasonCreate,
    ctx: AgreementCommand,
    services: ServicesDep,
    response: Response,
) -> Any:
    """Dispute a delivery, with a reason."""
    outcome = services.agreements.dispute_fulfilment(ctx, agreement_id, fulfilment_id, body.reason)
    return respond(response, outcome)
