"""The pipeline step (ingest → score → deliver, with their checks) as one partitioned multi-asset, and the
unpartitioned jobs the sync sensor launches (`qonto_sync_job`, `deliver_approved_job`)."""
