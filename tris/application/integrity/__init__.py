"""Verifiable history: per-aggregate hash chains, the Merkle log, checkpoints and evidence."""
