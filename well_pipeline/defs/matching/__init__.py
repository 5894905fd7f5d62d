"""Counterparty resolution and scoring: `scored_matches`, its checks, and the review queue."""
