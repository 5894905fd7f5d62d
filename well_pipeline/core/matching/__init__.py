"""Counterparty resolution: which Melio vendor a Qonto supplier invoice belongs to (pure, no I/O)."""
