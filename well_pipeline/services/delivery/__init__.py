"""Deliver released records to the Melio inbox (`deliver_days`, the use case behind `delivered_bills`), and what
people do with deliveries (`admin.py`: status, held, confirm, resend, dismiss).

Order of work of a run, chosen so that nothing is ever sent twice and nothing is lost:

0. the inbox address is re-checked (exactly `@invoicesmelio.com`, unless any domain is allowed for tests): a
   wrong one fails the run before the outbox or the mail server is touched (`run.py`);
1. rows a dead run left `sending` become `unconfirmed` (held for a person, never re-sent on their own); holds of
   records scoring no longer releases (refused in review, or a new version refused or sent to review) are lifted;
2. every candidate is planned from the outbox (core/delivery/plan.py); a document that is not what its type
   says (an executable or an HTML page served as `application/pdf`: core/delivery/document_type.py) is held,
   never sent; holds are written with their reasons (`planning.py`);
3. the SMTP connection is opened: a TLS or login problem fails the run here, before any row is claimed;
4. for each record to send, within the relay's quotas (core/delivery/quota.py): the outbox row is committed as
   `sending` (only if it is still the row the plan read: a record another delivery process claimed since is
   skipped, counted as claimed by another run), the e-mail is handed to the server, and the answer is committed
   (`sent`, `temporary_failure` to retry next run, `permanent_failure` or `unconfirmed` held for a person)
   (`sending.py`).

Storage is touched only in short store calls, never while SMTP talks: reads and the holds to plan, then per
e-mail one call to claim and one to complete. `well` commands read and write between two e-mails.

When the batch stops early, what was not attempted stays pending for the next run:
- a quota answer from the relay, or the configured daily quota reached: the claimed row is given back
  (neither failed nor unconfirmed), the run succeeds and reports what is left and when the quota frees up;
- a configuration error (TLS, STARTTLS, login; `MailerError` naming the setting to fix): the claimed row is
  given back and the run fails;
- the relay unreachable, or not answering within `smtp_deadline_s` after the retries (`DeliveryStoppedError`):
  that record is a `temporary_failure` and the run fails, instead of every other message waiting the same way.
- the document store unreadable (an object store down; `DocumentStoreUnavailableError`): the run fails before
  anything is held or claimed, instead of holding every record for a person over a passing outage.
"""

from well_pipeline.services.delivery.admin import (
    DeliveryAdminError,
    FieldChange,
    HeldView,
    NotDismissibleError,
    NothingToConfirmError,
    NothingToDismissError,
    UnknownRecordError,
    approve_resend,
    confirm_delivered,
    dismiss_change,
    held,
    status,
)
from well_pipeline.services.delivery.report import (
    DeliveryReport,
    DeliveryStoppedError,
    DocumentStoreUnavailableError,
    utc_clock,
)
from well_pipeline.services.delivery.run import UNLIMITED, days_to_deliver, deliver_days

__all__ = [
    "UNLIMITED",
    "DeliveryAdminError",
    "DeliveryReport",
    "DeliveryStoppedError",
    "DocumentStoreUnavailableError",
    "FieldChange",
    "HeldView",
    "NotDismissibleError",
    "NothingToConfirmError",
    "NothingToDismissError",
    "UnknownRecordError",
    "approve_resend",
    "confirm_delivered",
    "dismiss_change",
    "days_to_deliver",
    "deliver_days",
    "held",
    "status",
    "utc_clock",
]
