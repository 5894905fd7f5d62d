"""Qonto ingestion: the partitioned invoice asset, its checks and the 15-minute sync sensor."""
