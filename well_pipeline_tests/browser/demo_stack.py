"""The README's demo (`python3 scripts/dev.py demo`), started as a user starts it, on free ports in a folder of its own.

Why the real command and not a fixture built from parts: the browser test checks what a newcomer sees, so it runs
what the README tells them to run (dataset generation, both sandboxes, the OAuth connect, `dagster dev` with the
sensors on). Only the folder, the ports and the dataset's size differ, through the variables `scripts/dev.py` reads.
Stopping it sends SIGTERM, which the script treats as Ctrl-C; the stack must then leave no port open.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from well_pipeline_tests.support.qonto_sandbox import free_port, port_listening
from well_pipeline_tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
DEV_SCRIPT = ROOT / "scripts" / "dev.py"
START_TIMEOUT_S = 240
STOP_TIMEOUT_S = 90


@dataclass
class DemoStack:
    """A running demo: its folder, ports and process (the process group of `scripts/dev.py demo`)."""

    folder: Path
    ports: dict[str, int]
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['ui']}"

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster"

    @property
    def duckdb_path(self) -> Path:
        return self.data_dir / "well.duckdb"

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def env(self) -> dict[str, str]:
        return demo_env(self.folder, self.ports)

    def shell(self, *command: str) -> subprocess.CompletedProcess[str]:
        """`python3 scripts/dev.py shell COMMAND`: the README's second terminal, on this demo."""
        return subprocess.run([sys.executable, str(DEV_SCRIPT), "shell", *command], env=self.env(), cwd=ROOT,
                              capture_output=True, text=True, timeout=120)

    def stop(self) -> None:
        """Ctrl-C (SIGTERM, which the script treats the same), then wait until every port of the stack is closed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
                raise AssertionError(f"the demo did not stop within {STOP_TIMEOUT_S} s of SIGTERM") from None
        wait_until(lambda: not any(port_listening(port) for port in self.ports.values()), STOP_TIMEOUT_S,
                   lambda: f"the demo's ports to close: {[p for p in self.ports.values() if port_listening(p)]}")


def demo_env(folder: Path, ports: dict[str, int]) -> dict[str, str]:
    """The test's environment (its WELL_* isolation kept) plus the variables that move the demo."""
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update({
        "WELL_DEMO_DIR": str(folder),
        "WELL_DEMO_UI_PORT": str(ports["ui"]),
        "WELL_DEMO_SANDBOX_PORT": str(ports["qonto"]),
        "WELL_DEMO_INBOX_PORT": str(ports["inbox"]),
        "WELL_DEMO_INBOX_TLS_PORT": str(ports["inbox_tls"]),
    })
    return env


def start_demo(folder: Path, *, invoices: int, vendors: int) -> DemoStack:
    """`python3 scripts/dev.py demo` in `folder` on free ports; returns once the Dagster UI answers."""
    folder.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in ("ui", "qonto", "inbox", "inbox_tls")}
    env = demo_env(folder, ports)
    env.update({"WELL_DEMO_INVOICES": str(invoices), "WELL_DEMO_VENDORS": str(vendors)})
    log_path = folder / "demo.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, str(DEV_SCRIPT), "demo"], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    stack = DemoStack(folder, ports, process, log_path)

    def ui_answers() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the demo exited ({process.returncode}) before its UI came up:\n{stack.log_tail()}")
        try:
            with urllib.request.urlopen(f"{stack.ui_url}/server_info", timeout=2):
                return True
        except OSError:
            return False

    try:
        wait_until(ui_answers, START_TIMEOUT_S, lambda: f"the Dagster UI of the demo:\n{stack.log_tail()}")
    except BaseException:
        stack.stop()
        raise
    return stack
