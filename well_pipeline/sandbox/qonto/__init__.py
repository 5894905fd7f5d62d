"""A faithful, loopback-only stand-in for Qonto's OAuth host and Business API (not production code).

    from well_pipeline.sandbox.qonto import QontoSandbox, SandboxConfig
    with QontoSandbox(data_dir, SandboxConfig(latency_ms=20)) as sb:
        ...  # sb.base_url serves /oauth2/* and /v2/*

Behaviour follows /work/shared/reference/qonto-api.md; choices where Qonto's docs are silent are marked
UNCONFIRMED in the module that makes them.
"""

from .clock import ManualClock
from .config import SandboxConfig
from .server import QontoSandbox

__all__ = ["ManualClock", "QontoSandbox", "SandboxConfig"]
