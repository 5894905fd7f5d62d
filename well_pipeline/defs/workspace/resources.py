"""A workspace's resources: the five Dagster resources built from its settings, and its sensor's probe clients.

Why scoped, never top-level (docs/CONTRACTS.md, plan amendment A): top-level resources are bound to every job of
the code location, so its snapshot grows with the square of the number of workspaces; and one key (`storage`)
bound to different objects for two workspaces is refused by Dagster. So each workspace's assets, checks and jobs
carry their own resources under keys suffixed with the workspace (`storage__acme`: `scoped`), bodies read them
from `context.resources` (`resource_of`), and the sensors, which cannot see scoped resources, close over the same
instances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from well_pipeline.defs.resources import (
    MelioDeliveryResource,
    MelioExportsResource,
    QontoResource,
    ScoringResource,
    WellStorageResource,
    build_resources,
)
from well_pipeline.defs.workspace.names import WorkspaceNames
from well_pipeline.services.qonto_probe import ProbeClients
from well_pipeline.settings import Settings

RESOURCE_NAMES = ("storage", "qonto", "scoring", "melio_delivery", "melio_exports")


@dataclass(frozen=True)
class WorkspaceResources:
    """The resource instances of one workspace, and the Qonto clients its sync sensor keeps between ticks (one
    `ProbeClients` per workspace: a process serving several workspaces keeps one client each, not one in turn)."""

    storage: WellStorageResource
    qonto: QontoResource
    scoring: ScoringResource
    melio_delivery: MelioDeliveryResource
    melio_exports: MelioExportsResource
    probe_clients: ProbeClients = field(default_factory=ProbeClients, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkspaceResources:
        """Built (and so validated) from the workspace's settings."""
        return cls(**build_resources(settings))  # type: ignore[arg-type]

    def scoped(self, names: WorkspaceNames, *which: str) -> dict[str, dg.ConfigurableResource]:
        """The resources `which` (default: all five) under the workspace's keys, for `resource_defs=`."""
        return {names.resource(name): getattr(self, name) for name in which or RESOURCE_NAMES}


def resource_of(context: Any, names: WorkspaceNames, name: str) -> Any:
    """The workspace's resource `name` as the run resolved it (a launchpad override of its config included)."""
    return getattr(context.resources, names.resource(name))
