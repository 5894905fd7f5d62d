"""The workspace file on a real file system: written once and private, never rewritten, damage reported."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from well_pipeline.adapters import workspace_state
from well_pipeline.adapters.workspace_state import WorkspaceState, WorkspaceStateError, workspace_file
from well_pipeline_tests.support.permissions import mode, permissive_umask

FIRST = WorkspaceState(date(2023, 3, 1), datetime(2026, 3, 14, 9, 30, tzinfo=UTC))


def test_pin_writes_a_private_file_once_and_never_rewrites_it(tmp_path: Path) -> None:
    path = workspace_file(tmp_path / "data" / "nested")
    assert workspace_state.read(path) is None  # no connect yet: nothing assumed, nothing created
    assert not path.parent.exists()
    with permissive_umask():
        assert workspace_state.pin(path, FIRST) == (FIRST, True)
    assert mode(path) == 0o600 and mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700
    written = path.read_bytes()

    later = WorkspaceState(date(2023, 5, 1), datetime(2026, 5, 2, tzinfo=UTC))
    assert workspace_state.pin(path, later) == (FIRST, False)
    assert path.read_bytes() == written and workspace_state.read(path) == FIRST
    assert sorted(p.name for p in path.parent.iterdir()) == ["workspace.json"]  # no draft left behind


def test_racing_pins_agree_on_the_first(tmp_path: Path) -> None:
    path = workspace_file(tmp_path)
    barrier = threading.Barrier(8)
    results: list[tuple[WorkspaceState, bool]] = []
    errors: list[BaseException] = []

    def pin(day: int) -> None:
        barrier.wait()
        try:
            results.append(workspace_state.pin(path, WorkspaceState(date(2023, 1, day), FIRST.first_connected_at)))
        except BaseException as exc:  # noqa: BLE001 - reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=pin, args=(day,)) for day in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(stored for _, stored in results) == 1
    assert len({state for state, _ in results}) == 1
    assert workspace_state.read(path) == results[0][0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["workspace.json"]


@pytest.mark.parametrize("content,problem", [
    ("", "JSONDecodeError"),
    ("[1, 2]", "expected a JSON object"),
    ('{"format": 2, "history_start": "2023-03-01", "first_connected_at": "2026-03-14T09:30:00+00:00"}',
     "expected a JSON object"),
    ('{"format": 1, "first_connected_at": "2026-03-14T09:30:00+00:00"}', "KeyError"),
    ('{"format": 1, "history_start": "March", "first_connected_at": "2026-03-14T09:30:00+00:00"}', "ValueError"),
    ('{"format": 1, "history_start": "2023-03-01", "first_connected_at": "2026-03-14T09:30:00"}', "no time zone"),
])
def test_a_damaged_file_is_an_error_naming_the_file_and_the_fix(tmp_path: Path, content: str, problem: str) -> None:
    path = workspace_file(tmp_path)
    path.write_text(content)
    for attempt in (lambda: workspace_state.read(path), lambda: workspace_state.pin(path, FIRST)):
        with pytest.raises(WorkspaceStateError) as caught:
            attempt()
        message = str(caught.value)
        assert problem in message and str(path) in message
        assert "history_start" in message and "well qonto connect" in message
    assert path.read_text() == content  # left as it was: nothing is guessed or overwritten


def test_an_existing_file_open_to_others_is_tightened_when_read(tmp_path: Path, caplog) -> None:
    path = workspace_file(tmp_path)
    workspace_state.pin(path, FIRST)
    path.chmod(0o644)
    assert workspace_state.read(path) == FIRST
    assert mode(path) == 0o600
    assert "tightened permissions" in caplog.text
