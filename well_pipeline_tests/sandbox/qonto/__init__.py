"""Tests of the Qonto sandbox server (real sockets, httpx)."""
