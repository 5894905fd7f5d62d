#!/usr/bin/env python3
"""Well's two entry points for a fresh machine with only Python 3.11+ (standard library only).

    python3 scripts/dev.py demo    # Dagster UI on http://127.0.0.1:3000 against the embedded sandboxes
    python3 scripts/dev.py test    # layer rules, `dg check defs` and the whole test suite (what CI runs)
    python3 scripts/dev.py shell   # a shell (or one command) with the demo's settings: `well review list` works

Each creates or refreshes `.venv` from `pyproject.toml` + `constraints.txt` (pinned, so installs are
reproducible) with the `test` extra (sandboxes, `dg`, import-linter, pytest), and reinstalls only when either
file changed. Neither is needed to run Dagster: `dg dev` or `dagster dev` from the project root work too (README).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / ".well-install-stamp"
# The demo's folder (dataset, Melio inbox, data directory) and ports; the browser test moves them to run beside a demo.
DEMO_DIR = Path(os.environ.get("WELL_DEMO_DIR") or ROOT / ".well_demo").resolve()
SANDBOX_PORT = int(os.environ.get("WELL_DEMO_SANDBOX_PORT", "8710"))
INBOX_PORT = int(os.environ.get("WELL_DEMO_INBOX_PORT", "2525"))
INBOX_TLS_PORT = int(os.environ.get("WELL_DEMO_INBOX_TLS_PORT", "2465"))
UI_PORT = int(os.environ.get("WELL_DEMO_UI_PORT", "3000"))
# The dataset's size (the browser test runs a smaller one, to stay within its time).
DEMO_INVOICES = int(os.environ.get("WELL_DEMO_INVOICES", "1000"))
DEMO_VENDORS = int(os.environ.get("WELL_DEMO_VENDORS", "300"))

# Public demo credentials of the local sandboxes (never real ones).
DEMO_CLIENT_ID = "well-sandbox-client"
DEMO_CLIENT_SECRET = "well-sandbox-client-secret"
DEMO_SMTP_USER = "well"
DEMO_SMTP_PASSWORD = "well-sandbox-smtp-secret"


def log(message: str) -> None:
    print(f"[well] {message}", flush=True)


def bin_path(name: str) -> Path:
    return VENV / ("Scripts" if os.name == "nt" else "bin") / name


def ensure_venv() -> None:
    """Create `.venv` and install the project with pinned constraints, unless already up to date."""
    if sys.version_info < (3, 11):  # noqa: UP036 (dev.py runs before the venv exists)
        sys.exit(f"Well needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    wanted = digest.hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted and bin_path("python").exists():
        return
    if not bin_path("python").exists():
        log(f"creating virtual environment in {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    log("installing Well and its pinned dependencies (first run takes a minute)")
    pip = [str(bin_path("python")), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-c", str(ROOT / "constraints.txt"), "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(wanted)


def dagster_home(data_dir: Path) -> Path:
    """`<data_dir>/dagster` as the Dagster instance, holding a fresh copy of the project's `dagster.yaml`.

    Dagster keeps its storage beside the `dagster.yaml` of `DAGSTER_HOME`, so the copy puts run history under
    the data directory; it is rewritten on every start, so edits to the project's file always apply.
    """
    home = data_dir / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


def dagster_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DAGSTER_HOME": str(dagster_home(data_dir)),
        "WELL_DATA_DIR": str(data_dir),
        # `dg` compares the active virtual environment with the project's `.venv` and warns when they differ.
        "VIRTUAL_ENV": str(VENV),
        # A single-run backfill logs one "planned" event per asset for its whole range instead of one per day per
        # asset (3 × 1,097 for three years); read by the process that creates the run (webserver, daemon).
        # Deployments set it too (README, Operations).
        "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1",
    })
    return env


def run_checks(env: dict[str, str]) -> int:
    """The static checks before the suite: the layer rules and the code location loading. All run; 0 if all pass."""
    failed = 0
    for title, command in (
        ("lint-imports (the layer rules in pyproject.toml)", [str(bin_path("lint-imports")), "--no-logo"]),
        ("dg check defs", [str(bin_path("dg")), "check", "defs"]),
    ):
        log(title)
        failed = subprocess.run(command, cwd=ROOT, env=env).returncode or failed
    return failed


def run_tests(extra: list[str]) -> int:
    ensure_venv()
    env = dagster_env(ROOT / ".well_data" / "ci")
    # Debian's Chromium (the browser test) and PostgreSQL (the PostgreSQL store's tests), installed beside the
    # static checks when missing, in one apt run (~30 s).
    packages = subprocess.Popen([str(bin_path("python")), "-m", "well_pipeline_tests.support.debian_packages",
                                 "chromium", "postgresql"], cwd=ROOT, env=env)
    checks = run_checks(env)
    packages.wait()
    if checks != 0:
        return checks
    log("pytest")
    workers = ["-n", "2"] if not any(a.startswith("-n") for a in extra) else []
    return subprocess.run([str(bin_path("pytest")), *workers, *extra], cwd=ROOT, env=env).returncode


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not come up within {seconds:.0f} s") from None
            time.sleep(0.3)


def demo_env() -> dict[str, str]:
    """The demo's environment: its data directory, Dagster instance and every WELL_* setting it runs with (no
    secret: those are in the encrypted store inside the data directory)."""
    dataset = DEMO_DIR / "dataset"
    inbox_store = DEMO_DIR / "melio-inbox"
    env = dagster_env(DEMO_DIR / "data")
    sandbox_url = f"http://127.0.0.1:{SANDBOX_PORT}"
    env.update({
        "WELL_QONTO_API_URL": sandbox_url,
        "WELL_QONTO_OAUTH_URL": sandbox_url,
        "WELL_QONTO_AUTH_MODE": "oauth",
        "WELL_QONTO_CLIENT_ID": DEMO_CLIENT_ID,
        "WELL_QONTO_REDIRECT_URI": "http://127.0.0.1:8765/callback",
        # The demo polls every 15 s (production default: 15 minutes): a quiet tick costs one sandbox request, and the
        # first sync follows the first Melio export load within seconds instead of a quarter of an hour.
        "WELL_SYNC_INTERVAL_MINUTES": "0.25",
        # The generated Melio exports stand in for the customer's own.
        "WELL_MELIO_VENDORS_CSV": str(dataset / "melio" / "vendors.csv"),
        "WELL_MELIO_BILLS_CSV": str(dataset / "melio" / "bills.csv"),
        # Delivery goes to the Melio inbox sandbox (STARTTLS, TLS 1.3, its self-signed certificate trusted).
        "WELL_MELIO_INBOX_ADDRESS": "demo_1234@invoicesmelio.com",
        "WELL_SMTP_HOST": "127.0.0.1",
        "WELL_SMTP_PORT": str(INBOX_PORT),
        "WELL_SMTP_SECURITY": "starttls",
        "WELL_SMTP_USERNAME": DEMO_SMTP_USER,
        "WELL_SMTP_FROM_ADDRESS": "well-demo@example.com",
        "WELL_SMTP_CA_FILE": str(inbox_store / "tls" / "sandbox-cert.pem"),
    })
    return env


def run_shell(command: list[str]) -> int:
    """`command` (default: the user's shell) with the demo's settings and `.venv` first on PATH, so the README's
    `well review list`, `well delivery status`, `well qonto status` and `dagster` commands read the demo's data
    and instance while the demo runs (reads never wait for a run: they open the file read-only)."""
    ensure_venv()
    env = demo_env()
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    if not command:
        shell = os.environ.get("SHELL") or "/bin/sh"
        print(f"[dev] a shell with the demo's settings (data: {DEMO_DIR / 'data'}); `exit` to leave", flush=True)
        command = [shell]
    try:
        return subprocess.run(command, env=env).returncode
    except FileNotFoundError:
        print(f"[dev] no such command: {command[0]}", file=sys.stderr)
        return 127


def stop_on_sigterm() -> None:
    """SIGTERM stops the demo as Ctrl-C does (a supervisor or the browser test ends it so): its servers go too.

    SIGINT gets Python's own handler back too: a shell running the demo in the background starts it with SIGINT
    ignored, and a child inherits an ignored signal, so `dagster dev` (which maps SIGTERM to its SIGINT handler)
    would then ignore both and only die when killed."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def run_demo(extra: list[str]) -> int:
    ensure_venv()
    stop_on_sigterm()
    dataset = DEMO_DIR / "dataset"
    inbox_store = DEMO_DIR / "melio-inbox"
    env = demo_env()
    sandbox_url = env["WELL_QONTO_API_URL"]
    well = str(bin_path("well"))
    if not (dataset / "manifest.json").exists():
        log(f"generating the demo dataset ({DEMO_INVOICES:,} invoices, {DEMO_VENDORS:,} vendors, 3 years)")
        subprocess.run([well, "sandbox", "generate", "--out", str(dataset), "--invoices", str(DEMO_INVOICES),
                        "--vendors", str(DEMO_VENDORS), "--years", "3", "--seed", "7"], check=True, env=env)
    log(f"starting the Qonto sandbox on {sandbox_url} and the Melio inbox sandbox on 127.0.0.1:{INBOX_PORT}")
    sandbox = subprocess.Popen([well, "sandbox", "qonto", "--data", str(dataset), "--port", str(SANDBOX_PORT)],
                               env=env, start_new_session=True)
    inbox = subprocess.Popen([well, "sandbox", "melio", "--store", str(inbox_store), "--port", str(INBOX_PORT),
                              "--tls-port", str(INBOX_TLS_PORT)], env=env, start_new_session=True)
    try:
        wait_for(f"{sandbox_url}/_sandbox/stats", 30)
        for name, value in (("qonto_client_secret", DEMO_CLIENT_SECRET), ("smtp_password", DEMO_SMTP_PASSWORD)):
            subprocess.run([well, "secrets", "set", name, "--value-from-env", "WELL_DEMO_SECRET"],
                           check=True, env={**env, "WELL_DEMO_SECRET": value})
        subprocess.run([well, "qonto", "connect", "--sandbox-approve"], check=True, env=env)
        log(f"starting Dagster on http://127.0.0.1:{UI_PORT} (Ctrl-C stops everything); in a second terminal, "
            "`python3 scripts/dev.py shell` gives the `well` CLI on the demo's data")
        # Started from DAGSTER_HOME: from the project root, Dagster would warn that the root's dagster.yaml is not
        # the instance's (it is, through the copy `dagster_home` made).
        dagster = subprocess.Popen(
            [str(bin_path("dagster")), "dev", "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1",
             "-p", str(UI_PORT), *extra],
            cwd=env["DAGSTER_HOME"], env=env, start_new_session=True,
        )
        try:
            return dagster.wait()
        except KeyboardInterrupt:
            dagster.send_signal(signal.SIGINT)
            try:
                dagster.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(dagster.pid, signal.SIGKILL)
            return 0
    finally:
        for process in (sandbox, inbox):
            os.killpg(process.pid, signal.SIGTERM)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "install", "shell"}:
        print(__doc__)
        return 2
    command, extra = argv[0], argv[1:]
    if command == "install":
        ensure_venv()
        return 0
    if command == "shell":
        return run_shell(extra)
    return run_tests(extra) if command == "test" else run_demo(extra)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
