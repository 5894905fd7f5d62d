"""`generate_dataset`: write a complete sandbox dataset directory (layout in docs/CONTRACTS.md).

Determinism: every random choice comes from `random.Random` instances seeded with strings derived from
`seed` (string seeds are hashed with SHA-512 by CPython, so PYTHONHASHSEED does not matter), ids are UUIDv4
drawn from those generators, and nothing reads the clock when `now` is given. The same arguments therefore
give byte-identical files on the same Python/Pillow build; `now=None` means "current UTC minute".

Scale: records are generated in creation order and streamed (JSONL line, truth row, attachment file) so
memory stays flat; only the Melio ledger rows (~5% of invoices), a bounded history for duplicates and each
vendor's last few invoices (what its credit notes credit) are kept. 100,000 invoices / 10,000 vendors take
well under two minutes (see docs/generator.md).
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .attachments import POOL_MIN_INVOICES, AttachmentSink
from .invoices import InvoiceFactory
from .melio import MelioBill, build_old_bills, write_bills_csv, write_vendors_csv
from .organization import build_organization
from .plan import plan_specials, recent_from, sample_created_ms, window_ms
from .timefmt import format_z, from_ms, to_ms
from .truth import CASE_PRIORITY, TruthWriter, write_vendor_truth
from .vendors import build_vendors

GENERATOR_VERSION = "1.1.0"
MANIFEST_GENERATOR = "well_pipeline.sandbox.generator"
_OWNED = ("qonto", "melio", "truth", "manifest.json")


@dataclass(frozen=True)
class DatasetPaths:
    """Where each file of the dataset was written."""

    root: Path
    invoices_jsonl: Path
    attachments_dir: Path
    organization_json: Path
    melio_vendors_csv: Path
    melio_bills_csv: Path
    truth_invoices_csv: Path
    truth_vendors_csv: Path
    manifest_json: Path

    @classmethod
    def under(cls, root: Path) -> DatasetPaths:
        return cls(
            root=root,
            invoices_jsonl=root / "qonto" / "invoices.jsonl",
            attachments_dir=root / "qonto" / "attachments",
            organization_json=root / "qonto" / "organization.json",
            melio_vendors_csv=root / "melio" / "vendors.csv",
            melio_bills_csv=root / "melio" / "bills.csv",
            truth_invoices_csv=root / "truth" / "invoices.csv",
            truth_vendors_csv=root / "truth" / "vendors.csv",
            manifest_json=root / "manifest.json",
        )


@dataclass(frozen=True)
class GenerationSummary:
    """What was generated (counts are also in manifest.json; `elapsed_s` is not, it would break determinism)."""

    paths: DatasetPaths
    seed: int
    now: datetime
    invoices: int
    vendors: int
    vendors_in_melio: int
    melio_bills: int
    ledger_bills: int
    attachments: int
    attachment_bytes: int
    case_counts: dict[str, int]
    status_counts: dict[str, int]
    format_counts: dict[str, int]
    must_not_auto_link: int
    clean_known: int
    safe_known: int
    elapsed_s: float = field(default=0.0, compare=False)


def _prepare(out_dir: Path) -> None:
    """Create `out_dir`, or clear a previous generator output in it. Refuse to mix with foreign files."""
    if out_dir.exists() and any(out_dir.iterdir()):
        manifest = out_dir / "manifest.json"
        try:
            previous = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
        if not isinstance(previous, dict) or previous.get("generator") != MANIFEST_GENERATOR:
            raise FileExistsError(f"{out_dir} is not empty and holds no generator manifest; refusing to write")
        for name in _OWNED:
            target = out_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    for sub in ("qonto/attachments", "melio", "truth"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)


def _default_now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def generate_dataset(
    out_dir: Path,
    *,
    invoices: int,
    vendors: int,
    years: float,
    seed: int,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> GenerationSummary:
    """Generate `invoices` Qonto supplier invoices from `vendors` suppliers over the `years` before `now`.

    Writes qonto/invoices.jsonl (+ attachments, organization.json), melio/vendors.csv + bills.csv,
    truth/invoices.csv + vendors.csv and manifest.json under `out_dir`. `progress(done, total)` is called
    about every 1% of invoices. With `now` given the output is byte-identical for the same arguments.
    """
    started = time.perf_counter()
    if invoices < 0:
        raise ValueError("invoices must be >= 0")
    if vendors < 1:
        raise ValueError("vendors must be >= 1")
    if not 0 < years <= 50:
        raise ValueError("years must be in (0, 50]")
    now = _default_now() if now is None else now
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC)
    now_ms = to_ms(now)
    out_dir = Path(out_dir)
    _prepare(out_dir)
    paths = DatasetPaths.under(out_dir)

    def stream(name: str) -> random.Random:
        return random.Random(f"well-generator/{GENERATOR_VERSION}/{seed}/{name}")

    organization = build_organization(stream("organization"), now_ms)
    population = build_vendors(stream("vendors"), vendors)
    start_ms, end_ms = window_ms(now_ms, years)
    plan_rng = stream("plan")
    created = sample_created_ms(plan_rng, invoices, start_ms, end_ms)
    specials = plan_specials(plan_rng, invoices, recent_from(created, now_ms))

    cum: list[float] = []
    total_weight = 0.0
    for v in population:
        total_weight += v.popularity
        cum.append(total_weight)
    window_start = from_ms(start_ms).date()
    old_bills = build_old_bills(stream("melio-bills"), population, cum, window_start, max(3, invoices // 20))
    factory = InvoiceFactory(stream("invoices"), population, organization, now_ms, len(old_bills) + 1)

    ledger: list[MelioBill] = []
    cases: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    formats: Counter[str] = Counter()
    blocked = clean = safe = 0
    step = max(1, invoices // 100)
    jsonl_tmp = paths.invoices_jsonl.with_suffix(".jsonl.tmp")
    truth_tmp = paths.truth_invoices_csv.with_suffix(".csv.tmp")
    attachments_dir = paths.attachments_dir
    sink = AttachmentSink(parallel=invoices >= POOL_MIN_INVOICES)
    with sink, jsonl_tmp.open("w", encoding="utf-8", newline="\n") as out, \
            truth_tmp.open("w", encoding="utf-8", newline="") as truth_fh:
        truth = TruthWriter(truth_fh)
        for index, created_ms in enumerate(created):
            built = factory.build(index, created_ms, specials.get(index))
            record = built.record
            out.write(json.dumps(record, ensure_ascii=False))
            out.write("\n")
            sink.add(attachments_dir / f"{record['attachment_id']}.{built.doc_format}", built.doc_format,
                     built.document, built.pad_bytes)
            case, is_safe, is_clean = truth.write(
                qonto_id=record["id"],
                attachment_id=record["attachment_id"],
                facts=built.facts,
                true_vendor_id=built.vendor.vendor_id,
                generator_vendor_id=built.vendor.vendor_id,
                variant_ops=built.variant_ops,
                melio_bill_id=built.melio_bill_id,
                document=built.document_truth,
            )
            cases[case] += 1
            statuses[record["status"]] += 1
            formats[built.doc_format] += 1
            blocked += not is_safe
            safe += is_safe
            clean += is_clean
            if built.ledger_bill is not None:
                ledger.append(built.ledger_bill)
            if progress is not None and ((index + 1) % step == 0 or index + 1 == invoices):
                progress(index + 1, invoices)
    attachment_bytes = sink.bytes_written  # the sink is closed: every file is on disk
    jsonl_tmp.replace(paths.invoices_jsonl)
    truth_tmp.replace(paths.truth_invoices_csv)

    paths.organization_json.write_text(
        json.dumps(organization.payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    in_melio = write_vendors_csv(paths.melio_vendors_csv, population)
    bills = write_bills_csv(paths.melio_bills_csv, old_bills + ledger)
    with paths.truth_vendors_csv.open("w", encoding="utf-8", newline="") as fh:
        write_vendor_truth(fh, population)

    case_counts = {case: cases.get(case, 0) for case in CASE_PRIORITY}
    status_counts = dict(sorted(statuses.items()))
    format_counts = dict(sorted(formats.items()))
    manifest: dict[str, Any] = {
        "generator": MANIFEST_GENERATOR,
        "version": GENERATOR_VERSION,
        "seed": seed,
        "parameters": {"invoices": invoices, "vendors": vendors, "years": years, "now": format_z(now_ms)},
        "window": {"created_at_from": format_z(start_ms), "created_at_to": format_z(end_ms)},
        "organization_id": organization.id,
        "counts": {
            "invoices": invoices,
            "vendors": len(population),
            "vendors_in_melio": in_melio,
            "melio_bills": bills,
            "melio_bills_matching_qonto": len(ledger),
            "attachments": invoices,
            "attachment_bytes": attachment_bytes,
            "attachment_formats": format_counts,
            "statuses": status_counts,
            "cases": case_counts,
            "must_not_auto_link": blocked,
            "clean_known": clean,
            "safe_known": safe,
        },
        "files": {
            "invoices": "qonto/invoices.jsonl",
            "attachments": "qonto/attachments/<attachment_id>.<ext>",
            "organization": "qonto/organization.json",
            "melio_vendors": "melio/vendors.csv",
            "melio_bills": "melio/bills.csv",
            "truth_invoices": "truth/invoices.csv",
            "truth_vendors": "truth/vendors.csv",
        },
    }
    paths.manifest_json.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return GenerationSummary(
        paths=paths,
        seed=seed,
        now=now,
        invoices=invoices,
        vendors=len(population),
        vendors_in_melio=in_melio,
        melio_bills=bills,
        ledger_bills=len(ledger),
        attachments=invoices,
        attachment_bytes=attachment_bytes,
        case_counts=case_counts,
        status_counts=status_counts,
        format_counts=format_counts,
        must_not_auto_link=blocked,
        clean_known=clean,
        safe_known=safe,
        elapsed_s=time.perf_counter() - started,
    )


__all__ = ["GENERATOR_VERSION", "DatasetPaths", "GenerationSummary", "generate_dataset"]
