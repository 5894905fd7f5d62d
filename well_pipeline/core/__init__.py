"""Well's pure core: decisions with no I/O (record versioning, matching, scoring, policy, dedup rules)."""
