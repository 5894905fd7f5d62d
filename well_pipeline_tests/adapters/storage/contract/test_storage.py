"""Every implementation offers the four aggregates and the document files, and says where its data lives."""

from __future__ import annotations

from well_pipeline.adapters.storage import Storage


def test_storage_offers_every_aggregate(storage: Storage) -> None:
    for aggregate in ("invoices", "melio", "matches", "outbox", "documents"):
        assert getattr(storage, aggregate) is not None
    assert storage.location
