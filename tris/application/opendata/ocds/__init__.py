"""Open Contracting: agreements as OCDS 1.1.5 releases, release packages and records."""

from tris.application.opendata.ocds.service import OpenContracting

__all__ = ["OpenContracting"]
