"""A faithful, loopback-only stand-in for Qonto's OAuth host and Business API (not production code).

    from well_pipeline.sandbox.qonto import QontoSandbox, SandboxConfig
    with QontoSandbox(data_dir, SandboxConfig(latency_ms=20)) as sb:
        ...  # sb.base_url serves /oauth2/* and /v2/*

Several organisations, each with its own dataset and credentials, isolated from one another:

    config = SandboxConfig(organizations=(OrgConfig("acme", acme_dir), OrgConfig("globex", globex_dir)))
    with QontoSandbox(demo_dir, config) as sb:
        sb.organizations  # {"well-demo-org": ..., "acme": ..., "globex": ...}: data_dir + credentials

Behaviour follows /work/shared/reference/qonto-api.md; choices where Qonto's docs are silent are marked
UNCONFIRMED in the module that makes them.
"""

from .clock import ManualClock
from .config import OrgConfig, SandboxConfig, derived_credentials
from .server import QontoSandbox

__all__ = ["ManualClock", "OrgConfig", "QontoSandbox", "SandboxConfig", "derived_credentials"]
