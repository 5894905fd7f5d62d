"""An asset check evaluated inside the pipeline step: its spec and its evaluator.

Why not `@dg.asset_check`: a separate check is a separate step (with the multiprocess executor, a process each;
issue 10 measured 11 steps and 32-40 s for a sync with nothing to do). The pipeline step evaluates its checks right
after the stage they check, so a run is one step and a failing blocking check still stops what follows it. The
evaluators stay in their domain modules (`defs/qonto/checks.py`, `defs/matching/checks.py`,
`defs/delivery/assets.py`) and read only the stores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from well_pipeline.adapters.storage import Storage
from well_pipeline.defs.workspace.names import WorkspaceNames


@dataclass(frozen=True)
class StepCheck:
    """A check of one of a workspace's assets (`asset`: its name, e.g. `qonto_supplier_invoices`) and its
    evaluator `evaluate(storage) -> AssetCheckResult`. Free of asset keys, so one tuple of checks serves every
    workspace: `spec(names)` and `result(storage, names)` put them on that workspace's asset."""

    asset: str
    name: str
    blocking: bool
    description: str
    evaluate: Callable[[Storage], dg.AssetCheckResult]

    def spec(self, names: WorkspaceNames) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(self.name, asset=names.key(self.asset), blocking=self.blocking,
                                 description=self.description)

    def key(self, names: WorkspaceNames) -> dg.AssetCheckKey:
        return dg.AssetCheckKey(names.key(self.asset), self.name)

    def result(self, storage: Storage, names: WorkspaceNames) -> dg.AssetCheckResult:
        """Evaluate, and name the result after the check (the workspace's asset and the check's name)."""
        outcome = self.evaluate(storage)
        return dg.AssetCheckResult(asset_key=names.key(self.asset), check_name=self.name, passed=outcome.passed,
                                   metadata=outcome.metadata, severity=outcome.severity,
                                   description=outcome.description)


def step_check(asset: str, *, blocking: bool = False, description: str
               ) -> Callable[[Callable[[Storage], dg.AssetCheckResult]], StepCheck]:
    """Decorate an evaluator `fn(storage) -> AssetCheckResult` into a `StepCheck` of the asset named `asset`,
    named after the function."""
    def wrap(evaluate: Callable[[Storage], dg.AssetCheckResult]) -> StepCheck:
        return StepCheck(asset, evaluate.__name__, blocking, description, evaluate)
    return wrap
