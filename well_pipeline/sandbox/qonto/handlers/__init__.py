"""Endpoint handlers, one module per area: OAuth host, /v2 API, file downloads, control hooks."""
