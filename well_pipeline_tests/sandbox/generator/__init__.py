"""Tests of the deterministic dataset generator."""
