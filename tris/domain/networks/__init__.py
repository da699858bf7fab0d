"""Networks of networks: memberships over time, with the consent of both sides, never in a
circle (ADR 21)."""
