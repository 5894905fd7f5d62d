"""Local stand-ins for the external services Well talks to (Qonto, later Melio/SMTP).

Nothing in this package is production code: it exists so that the pipeline, its client and its tests can
run against faithful, loopback-only fakes when the real services are unreachable.
"""
