"""The thin Dagster layer: resources, assets, checks, partitions and sensors that wire Well together."""

import warnings

from dagster import BetaWarning

# Well knowingly uses `backfill_policy`, beta in Dagster 1.13: a single-run backfill keeps one DuckDB writer for a
# whole date range. Dagster warns at every import of the asset modules, in every code server, run worker and
# step process (the demo printed ~144 such lines). Silence exactly that notice, here, before any module
# below `defs/` is imported; any other beta or preview API still warns (a test in test_defs.py sees to it).
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy` of function `asset`", category=BetaWarning)
# Well knowingly scopes each workspace's resources to its own assets (`resource_defs`, beta on `asset` and
# `multi_asset` in 1.13; on checks and jobs it is not): top-level resources would be bound to every job of every
# workspace (defs/workspace/resources.py). Silence exactly those two notices.
warnings.filterwarnings("ignore", message=r"Parameter `resource_defs` of function `(multi_)?asset`",
                        category=BetaWarning)
# Not Well's use: when `Definitions` binds the resources to the sync sensor's op jobs, Dagster 1.13 copies the
# sensor (`SensorDefinition.with_attributes`) passing its `owners` as `[]`, never None, which trips the beta notice
# of `owners` at every load although no Well sensor sets owners. Silence exactly that message.
warnings.filterwarnings("ignore", message=r"Parameter `owners` of initializer `SensorDefinition.__init__`",
                        category=BetaWarning)
