"""Scoring: field completeness × counterparty strength × policy fit, capped by hard safety rules (pure)."""
