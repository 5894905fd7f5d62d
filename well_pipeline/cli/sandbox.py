"""`well sandbox ...`: local stand-ins for Qonto and Melio (not production code).

Each sandbox command is self-contained below the group; `qonto` serves a dataset directory over HTTP(S)
on loopback, `generate` (separate author) writes such a directory.
"""

from __future__ import annotations

import logging
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from well_pipeline.cli.common import printable

if TYPE_CHECKING:
    from well_pipeline.sandbox.qonto import OrgConfig


def _wait_for_stop() -> None:
    """Block until Ctrl-C or SIGTERM (so a supervisor can stop a sandbox cleanly too)."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        click.echo("stopping")
        signal.signal(signal.SIGTERM, previous)


@click.group()
def sandbox() -> None:
    """Local stand-ins for Qonto and Melio; not production code."""


def _parse_orgs(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[OrgConfig, ...]:
    """`--org NAME=DIR` values as OrgConfig (credentials derived from NAME); a clear error otherwise."""
    from well_pipeline.sandbox.qonto import OrgConfig

    orgs = []
    for value in values:
        name, sep, directory = value.partition("=")
        if not sep or not name or not directory:
            raise click.BadParameter(f"expected NAME=DIR, got {value!r}", ctx=ctx, param=param)
        try:
            orgs.append(OrgConfig(name.strip(), Path(directory)))
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return tuple(orgs)


@sandbox.command("qonto")
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Dataset directory (the one holding qonto/invoices.jsonl) of the default organisation.",
)
@click.option(
    "--org",
    "organizations",
    multiple=True,
    metavar="NAME=DIR",
    callback=_parse_orgs,
    help="Also serve organisation NAME from dataset DIR, isolated from the others, with its own credentials "
    "(client id well-sandbox-client-NAME, API login NAME; docs/CONTRACTS.md). Repeatable.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (keep it loopback).")
@click.option("--port", default=8710, show_default=True, type=click.IntRange(0, 65535), help="0 = any free port.")
@click.option("--latency-ms", default=0, show_default=True, type=click.IntRange(0), help="Added to every API call.")
@click.option("--staging-token", default=None, help="Require X-Qonto-Staging-Token (HTML 200 page otherwise).")
@click.option("--tls", is_flag=True, help="Serve HTTPS (TLS 1.3 only) with a fresh self-signed certificate.")
@click.option("--no-long-window", is_flag=True, help="Disable the 10,000 requests / 10 min rate limit window.")
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="DEBUG logs one line per request.",
)
def qonto_command(
    data_dir: Path,
    organizations: tuple[OrgConfig, ...],
    host: str,
    port: int,
    latency_ms: int,
    staging_token: str | None,
    tls: bool,
    no_long_window: bool,
    log_level: str,
) -> None:
    """Serve a Qonto sandbox (OAuth + /v2 API) for DIR (and each --org) until Ctrl-C."""
    from well_pipeline.sandbox.qonto import QontoSandbox, SandboxConfig
    from well_pipeline.sandbox.tls import generate_self_signed

    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("well.sandbox.qonto").setLevel(log_level.upper())
    for directory in (data_dir, *(Path(org.data_dir) for org in organizations)):
        if not (directory / "qonto" / "invoices.jsonl").exists():
            missing = directory / "qonto" / "invoices.jsonl"
            click.echo(f"warning: {missing} does not exist yet; serving no invoices", err=True)

    cert_path = key_path = None
    cert_dir: tempfile.TemporaryDirectory[str] | None = None
    if tls:
        cert_dir = tempfile.TemporaryDirectory(prefix="well-sandbox-tls-")
        cert_path, key_path = generate_self_signed(cert_dir.name)
    try:
        config = SandboxConfig(
            host=host,
            port=port,
            latency_ms=latency_ms,
            staging_token=staging_token,
            tls_cert=cert_path,
            tls_key=key_path,
            long_rate_limit_requests=0 if no_long_window else SandboxConfig.long_rate_limit_requests,
            organizations=organizations,
        )
        server = QontoSandbox(data_dir, config)
    except ValueError as exc:
        if cert_dir is not None:
            cert_dir.cleanup()
        raise click.BadParameter(str(exc), param_hint="--org") from None
    try:
        server.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc
    click.echo(f"Qonto sandbox serving {server.base_url}  (OAuth: /oauth2/*, API: /v2/*)")
    click.echo(f"  dataset:       {data_dir}")
    click.echo(f"  client_id:     {config.client_id}   client secret: see README")
    click.echo(f"  API key login: {config.api_login}   API secret: see README")
    for org in organizations:  # public demo values, but secrets are never printed: see docs/CONTRACTS.md
        click.echo(f"  organisation {org.name}: dataset {org.data_dir}")
        click.echo(f"    client_id:     {org.client_id}   API key login: {org.api_login}   "
                   "secrets: see docs/CONTRACTS.md (Qonto sandbox)")
    if staging_token:
        click.echo("  staging token required in X-Qonto-Staging-Token")
    if cert_path is not None:
        click.echo(f"  TLS 1.3 certificate (trust it with verify=): {cert_path}")
    click.echo("Press Ctrl-C to stop.")
    _wait_for_stop()
    server.stop()
    if cert_dir is not None:
        cert_dir.cleanup()


def _parse_now(text: str | None) -> datetime | None:
    """`--now` as an aware UTC datetime: ISO 8601 / RFC 3339, `Z` accepted, naive taken as UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 date/time: {text!r}", param_hint="--now") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@contextmanager
def _generation_progress(total: int) -> Iterator[Callable[[int, int], None]]:
    """The generator's `progress(done, total)` callback, shown on stderr (stdout keeps the summary).

    On a terminal: a `click.progressbar` with count, percentage and time left. Elsewhere (a pipe, a CI log) click
    would print the bar's label once and nothing more, so a plain line every 10% is written instead."""
    err = sys.stderr
    if not total or not err.isatty():
        last_decile = [0]

        def line(done: int, of: int) -> None:
            decile = done * 10 // of if of else 10
            if decile > last_decile[0]:
                last_decile[0] = decile
                click.echo(f"generate: {decile * 10:3d}%  ({done:,}/{of:,} invoices)", err=True)

        yield line
        return
    with click.progressbar(length=total, label="generate: invoices + attachments", file=err, show_pos=True,
                           show_percent=True, show_eta=True) as bar:
        yield lambda done, _of: bar.update(done - bar.pos)


@sandbox.command("generate")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Dataset directory to write (created; a previous generator output in it is replaced).",
)
@click.option("--invoices", default=2000, show_default=True, type=click.IntRange(0), help="Qonto supplier invoices.")
@click.option("--vendors", default=300, show_default=True, type=click.IntRange(1), help="Vendor population size.")
@click.option(
    "--years",
    default=3.0,
    show_default=True,
    type=click.FloatRange(0, 50, min_open=True),
    help="Invoices are created over this many years before --now.",
)
@click.option("--seed", default=1, show_default=True, type=int, help="Same seed + same --now = same bytes.")
@click.option("--now", "now_text", default=None, help="End of the window, ISO 8601 (default: current UTC minute).")
def generate_command(out_dir: Path, invoices: int, vendors: int, years: float, seed: int, now_text: str | None) -> None:
    """Write a deterministic sandbox dataset (Qonto invoices + attachments, Melio CSVs, ground truth)."""
    from well_pipeline.sandbox.generator import generate_dataset

    now = _parse_now(now_text)
    try:
        with _generation_progress(invoices) as progress:
            summary = generate_dataset(
                out_dir, invoices=invoices, vendors=vendors, years=years, seed=seed, now=now, progress=progress
            )
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Dataset written to {summary.paths.root} in {summary.elapsed_s:.1f} s")
    click.echo(f"  now:          {summary.now.isoformat()}   seed: {summary.seed}")
    click.echo(f"  invoices:     {summary.invoices:,}   attachments: {summary.attachments:,} "
               f"({summary.attachment_bytes / 1e6:.1f} MB; " +
               ", ".join(f"{k} {v:,}" for k, v in summary.format_counts.items()) + ")")
    click.echo(f"  vendors:      {summary.vendors:,}   in Melio: {summary.vendors_in_melio:,}")
    click.echo(f"  Melio bills:  {summary.melio_bills:,}   "
               f"(of which matching Qonto invoices: {summary.ledger_bills:,})")
    click.echo(f"  auto-linkable (truth clean_known): {summary.clean_known:,}   "
               f"must not auto-link: {summary.must_not_auto_link:,}")
    click.echo("  cases:        " + ", ".join(f"{k} {v:,}" for k, v in summary.case_counts.items()))


@sandbox.command("melio")
@click.option(
    "--store",
    "store_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Inbox directory (created): messages/*.eml, inbox.jsonl, tls/ certificate.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (keep it loopback).")
@click.option("--port", default=2525, show_default=True, type=click.IntRange(0, 65535), help="STARTTLS port; 0 = any.")
@click.option(
    "--tls-port", default=2465, show_default=True, type=click.IntRange(0, 65535), help="Implicit-TLS port; 0 = any."
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="DEBUG logs one line per message.",
)
def melio_command(store_dir: Path, host: str, port: int, tls_port: int, log_level: str) -> None:
    """Serve a Melio email-in inbox (SMTP, STARTTLS + implicit TLS, TLS 1.3, AUTH) until Ctrl-C."""
    from well_pipeline.sandbox.melio import InboxConfig, MelioInbox

    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("well.sandbox.melio").setLevel(log_level.upper())
    # aiosmtpd's own logger echoes every SMTP line (and message bytes at DEBUG); keep it to problems.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    try:
        config = InboxConfig(host=host, port=port, tls_port=tls_port)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    inbox = MelioInbox(store_dir, config)
    try:
        inbox.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}/{tls_port}: {exc}") from exc
    click.echo(f"Melio inbox sandbox serving SMTP on {host}")
    click.echo(f"  STARTTLS port: {inbox.port}   implicit TLS port: {inbox.tls_port}   (TLS 1.3 only)")
    click.echo(f"  certificate (trust it as the CA file): {inbox.cert_path}")
    click.echo(f"  username:      {config.username}   password: see README")
    click.echo(f"  recipients:    any address @{config.accepted_domain}")
    click.echo(f"  store:         {store_dir}  ({len(inbox.messages())} message(s) kept so far)")
    click.echo("Press Ctrl-C to stop.", nl=True)
    _wait_for_stop()
    inbox.stop()


@sandbox.command("melio-inbox")
@click.argument("store_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message instead of the listing.")
@click.option("--to", "address", default=None, metavar="ADDRESS",
              help="Only the messages and drafts delivered to this inbox address (one workspace's Melio inbox).")
def melio_inbox_command(store_dir: Path, as_json: bool, address: str | None) -> None:
    """List the messages and draft bills kept in a Melio inbox store (no server needed)."""
    import json

    from well_pipeline.sandbox.melio import InboxStore

    try:
        store = InboxStore(store_dir, create=False)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    messages = store.messages(address)
    if as_json:
        for message in messages:
            click.echo(json.dumps(message.to_json(store.directory), ensure_ascii=False, sort_keys=True))
        return
    to = f" to {printable(address)}" if address is not None else ""
    click.echo(f"{len(messages)} message(s){to} in {store_dir}")
    for message in messages:
        stamp = message.received_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        dropped = "  [reply dropped by fault]" if not message.delivered_reply_sent else ""
        click.echo(f"#{message.ordinal:06d}  {stamp}  {printable(message.message_id or '(no Message-ID)')}  "
                   f"{printable(message.subject or '(no subject)')}{dropped}")
        if not message.attachments:
            click.echo("    (no attachment: no draft)")
        rejected = {rejection.attachment_index: rejection for rejection in message.rejections}
        for index, attachment in enumerate(message.attachments):
            outcome = f"REJECTED: {rejected[index].reason}" if index in rejected else "draft"
            click.echo(f"    {printable(attachment.filename or '(unnamed)')}  {printable(attachment.content_type)}  "
                       f"{attachment.size:,} B  -> {printable(outcome)}")
    drafts = store.drafts(address)
    click.echo(f"{len(drafts)} draft bill(s)")
    for draft in drafts:
        amount = f"{draft.amount} {draft.currency}" if draft.amount is not None else "-"
        defaulted = "yes" if draft.due_date_defaulted else "no"
        click.echo(f"  {draft.id}  vendor: {printable(draft.vendor or '-')}  "
                   f"invoice: {printable(draft.invoice_number or '-')}  amount: {printable(amount)}  "
                   f"due: {draft.due_date}  defaulted: {defaulted}")
