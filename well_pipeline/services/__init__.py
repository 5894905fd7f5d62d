"""Use cases that compose adapters and the pure core; no Dagster objects here."""
