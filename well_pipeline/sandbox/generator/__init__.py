"""Deterministic dataset generator for the Qonto and Melio sandboxes (not production code).

`generate_dataset(out_dir, invoices=..., vendors=..., years=..., seed=..., now=...)` writes the dataset
directory described in docs/CONTRACTS.md and docs/generator.md: Qonto supplier invoices with attachments,
the Melio vendor directory and ledger, and the ground truth used to score the matcher.
"""

from .dataset import GENERATOR_VERSION, DatasetPaths, GenerationSummary, generate_dataset

__all__ = ["GENERATOR_VERSION", "DatasetPaths", "GenerationSummary", "generate_dataset"]
