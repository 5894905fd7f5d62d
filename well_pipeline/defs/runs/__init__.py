"""Run health: a run whose worker process is gone must not hold the single DuckDB slot forever."""
