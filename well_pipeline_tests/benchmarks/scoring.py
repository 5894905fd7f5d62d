"""Scoring benchmark: Well's resolver against a naive `extractOne(WRatio)` loop, on generated ground truth.

    python -m well_pipeline_tests.benchmarks.scoring --invoices 100000 --vendors 10000

Prints one JSON line. `seconds` covers building the vendor index and ledger and scoring every invoice (reading
the files is `load_seconds`). The naive figure is `rapidfuzz.process.extractOne(name, vendor_names,
scorer=WRatio)` per invoice on a random subsample, extrapolated; its accuracy is measured on that subsample
with the same rule a naive integration would use (auto-link when WRatio >= 85), next to Well's on the same
records.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rapidfuzz import fuzz, process

from well_pipeline.core.scoring.model import Decision
from well_pipeline_tests.support.scoring_eval import distinct_supplier_keys, load_dataset, measure, score_dataset


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--vendors", type=int, default=10_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--dataset", type=Path, default=None, help="reuse an existing dataset directory")
    parser.add_argument("--naive-sample", type=int, default=400)
    return parser.parse_args(argv)


def _generate(target: Path, args: argparse.Namespace) -> None:
    """In a child process, so the generator's memory stays out of peak_rss_mb."""
    subprocess.run([sys.executable, "-m", "well_pipeline.cli.main", "sandbox", "generate", "--out", str(target),
                    "--invoices", str(args.invoices), "--vendors", str(args.vendors), "--years", str(args.years),
                    "--seed", str(args.seed)], check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> dict:
    args = _parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="well-bench-scoring-") as tmp:
        dataset = args.dataset or Path(tmp) / "dataset"
        if args.dataset is None:
            _generate(dataset, args)
        data = load_dataset(dataset)
        matches, seconds = score_dataset(data)
        accuracy = measure(matches, data.truth)

        rng = random.Random(args.seed)
        sample = rng.sample(range(len(data.facts)), min(args.naive_sample, len(data.facts)))
        names = [v.company_name for v in data.vendors]
        ids = [v.vendor_id for v in data.vendors]
        started = time.monotonic()
        naive = []
        for i in sample:
            best = process.extractOne(data.facts[i].supplier_name or "", names, scorer=fuzz.WRatio)
            naive.append((ids[best[2]], best[1]) if best else (None, 0.0))
        naive_seconds = time.monotonic() - started
        naive_per_s = len(sample) / naive_seconds if naive_seconds else float("inf")

        def right(qonto_id: str, vendor_id: str | None) -> bool:
            row = data.truth[qonto_id]
            return vendor_id == row["true_vendor_id"] and row["must_not_auto_link"].lower() != "true"

        naive_auto = [(data.facts[i].qonto_id, v) for i, (v, s) in zip(sample, naive, strict=True) if s >= 85]
        ours_auto = [(matches[i].qonto_id, matches[i].vendor_id) for i in sample
                     if matches[i].decision is Decision.AUTO_LINK]
        result = {
            "invoices": len(data.facts),
            "vendors": len(data.vendors),
            "distinct_supplier_keys": distinct_supplier_keys(data.facts),
            "seconds": round(seconds, 3),
            "load_seconds": round(data.load_seconds, 3),
            "invoices_per_s": round(len(data.facts) / seconds, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "naive_invoices_per_s": round(naive_per_s, 1),
            "naive_sample": len(sample),
            "speedup_vs_naive": round((len(data.facts) / seconds) / naive_per_s, 1),
            **accuracy.as_dict(),
            "decisions": {d.value: sum(m.decision is d for m in matches) for d in Decision},
            "sample_auto_link_precision": round(sum(right(q, v) for q, v in ours_auto) / len(ours_auto), 4)
            if ours_auto else None,
            "sample_auto_links": len(ours_auto),
            "naive_sample_auto_link_precision": round(sum(right(q, v) for q, v in naive_auto) / len(naive_auto), 4)
            if naive_auto else None,
            "naive_sample_auto_links": len(naive_auto),
        }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
