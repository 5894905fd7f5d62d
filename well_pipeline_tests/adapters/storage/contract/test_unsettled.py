"""What `well workspace remove` counts as unsettled (services/workspace_admin.py), read through the storage ports of
every implementation: records awaiting delivery, outbox rows being sent, records awaiting a review decision."""

from __future__ import annotations

from well_pipeline.adapters.storage import Storage
from well_pipeline.core.delivery.plan import OutboxState
from well_pipeline.services.workspace_admin import Unsettled, unsettled
from well_pipeline_tests.support.delivery_records import release_records


def test_an_empty_store_is_settled(storage: Storage) -> None:
    assert unsettled(storage) == Unsettled(0, 0, 0)
    assert unsettled(storage).describe() == "nothing"


def test_each_kind_of_unsettled_record_is_counted(storage: Storage) -> None:
    rows = release_records(storage, ("q-wait", "auto_link", 0), ("q-send", "auto_link", 1), ("q-done", "auto_link", 2),
                           ("q-review", "review", 3), ("q-refused", "refused", 4))
    for qonto_id in ("q-send", "q-done"):
        storage.outbox.mark_sending(rows[qonto_id], message_id=f"<{qonto_id}@x>", to_address="b@invoicesmelio.com",
                                    dedup=None, resend=False)
    storage.outbox.complete(rows["q-done"], message_id="<q-done@x>", state=OutboxState.SENT, code=250, reply="OK",
                            attempts=1, resend=False)
    found = unsettled(storage)
    # q-wait awaits delivery; q-send is being handed over; q-review waits for a person; q-done and a refusal are settled
    assert (found.awaiting_delivery, found.sending, found.awaiting_review) == (1, 1, 1)
    assert found.describe() == ("1 awaiting delivery, 1 being sent (outbox state sending), "
                                "1 awaiting a review decision")
    storage.matches.record_decision(qonto_id="q-review", action="refuse", author="ops")
    assert unsettled(storage).awaiting_review == 0
