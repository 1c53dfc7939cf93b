"""Deterministic orchestration: one module per job type, plus the lifecycle they share."""
