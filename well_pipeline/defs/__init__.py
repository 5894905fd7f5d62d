"""The thin Dagster layer: resources, assets, checks, partitions and sensors that wire Well together."""
