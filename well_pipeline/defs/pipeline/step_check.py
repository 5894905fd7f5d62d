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


@dataclass(frozen=True)
class StepCheck:
    """A check's spec and its evaluator `evaluate(storage) -> AssetCheckResult` (asset and name come from the spec)."""

    spec: dg.AssetCheckSpec
    evaluate: Callable[[Storage], dg.AssetCheckResult]

    @property
    def key(self) -> dg.AssetCheckKey:
        return self.spec.key

    def result(self, storage: Storage) -> dg.AssetCheckResult:
        """Evaluate, and name the result after the spec (its asset and check name)."""
        outcome = self.evaluate(storage)
        return dg.AssetCheckResult(asset_key=self.spec.asset_key, check_name=self.spec.name, passed=outcome.passed,
                                   metadata=outcome.metadata, severity=outcome.severity,
                                   description=outcome.description)


def step_check(asset: dg.AssetKey, *, blocking: bool = False, description: str
               ) -> Callable[[Callable[[Storage], dg.AssetCheckResult]], StepCheck]:
    """Decorate an evaluator `fn(storage) -> AssetCheckResult` into a `StepCheck` named after the function."""
    def wrap(evaluate: Callable[[Storage], dg.AssetCheckResult]) -> StepCheck:
        return StepCheck(dg.AssetCheckSpec(evaluate.__name__, asset=asset, blocking=blocking,
                                           description=description), evaluate)
    return wrap
