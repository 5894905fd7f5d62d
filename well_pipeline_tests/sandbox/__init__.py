"""Tests of the local sandboxes."""
