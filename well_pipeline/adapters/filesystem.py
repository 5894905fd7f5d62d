"""Private files and folders under Well's data directory: folders 0700, files 0600, old ones tightened.

Why: the data directory holds IBANs, amounts, supplier documents and the encrypted secrets. Under the usual
umask (022) a new file is 0644, readable by every account on the machine. Every file and folder Well creates
there goes through this module, and an existing one that is open to others is tightened (with a log line)
when Well opens it, so an installation made before this rule is fixed too.

Why explicit modes here rather than a process umask (`os.umask(0o077)`): the umask is process-wide state.
Well runs inside Dagster's processes (webserver, daemon, code server, run workers) and as a library in tests
and notebooks; setting it at import, or for the span of a connection, would also change every file Dagster
and other threads create meanwhile, races with anyone else setting it (it cannot be set per thread), and
does nothing for files that already exist with a too-open mode.

The one file Well cannot give a mode is DuckDB's write-ahead log: DuckDB creates `<db>.wal` itself (again
after every checkpoint) under the process umask. Its folder is 0700, which is what keeps it private, and it
is tightened whenever the database is opened or closed.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import tempfile
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
_GROUP_AND_OTHER = 0o077
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}

_trees_done: set[str] = set()
_trees_lock = threading.Lock()


def tighten(path: Path, *, log: bool = True) -> bool:
    """Remove the group and other permission bits of an existing file or folder; True if its mode changed.

    A missing path is not an error (nothing to protect). A mode that cannot be changed (another owner, a
    read-only mount such as a Kubernetes secret volume) is logged and left: refusing to start would not make
    the file any less readable.
    """
    try:
        current = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return False
    if not current & _GROUP_AND_OTHER:
        return False
    tightened = current & ~_GROUP_AND_OTHER
    try:
        os.chmod(path, tightened)
    except OSError as exc:
        logger.warning("%s is open to other users (mode %04o) and could not be tightened: %s",
                       path, current, exc.strerror)
        return False
    if log:
        logger.warning("tightened permissions of %s from %04o to %04o", path, current, tightened)
    return True


def private_dir(path: Path) -> Path:
    """`path` as a folder only its owner can use: each missing level is created 0700, an existing one tightened.

    `Path.mkdir(parents=True)` would give the parents it creates the umask's mode; here every folder Well
    creates is private, and folders that already existed above the first missing one are left alone.
    """
    path = Path(path)
    if path.is_dir():
        tighten(path)
        return path
    missing = []
    level = path
    while not level.is_dir():
        missing.append(level)
        level = level.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            tighten(folder)  # created meanwhile by another process; same rule
            continue
        os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def write_private(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write `data` to `path` as a 0600 file; its folder must exist (see `private_dir`).

    By default atomically: a temporary file in the same folder, flushed to disk, then renamed over `path`,
    so a crash leaves the old content or the new one, never half of either. With `exclusive`, `path` is
    created only if absent (FileExistsError otherwise): two processes can never both win.
    """
    path = Path(path)
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        try:
            os.fchmod(fd, PRIVATE_FILE_MODE)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_private(path: Path, data: bytes) -> bool:
    """Create `path` (0600, its folder private) holding `data`, atomically and only if absent: False if it exists.

    Written whole beside it, then hard-linked into place: the link is atomic *and* create-only, so a reader (a
    code location loading) never sees half a file, and of two racing writers the first stands. (`write_private`'s
    `exclusive` is create-only but not atomic.)
    """
    path = Path(path)
    private_dir(path.parent)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    write_private(draft, data)
    try:
        os.link(draft, path)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        if path.exists():
            return False
        os.replace(draft, path)  # a file system without hard links: still atomic, but a racing writer could win
    finally:
        draft.unlink(missing_ok=True)
    return True


def tighten_tree(root: Path) -> tuple[int, int]:
    """Tighten every folder and file under `root`, itself included; returns (folders, files) changed.

    Symbolic links are skipped: Well never creates them, and following one would change a file outside the
    data directory. One summary log line instead of one per file (an old store may hold thousands).
    """
    root = Path(root)
    folders = int(tighten(root, log=False))
    files = 0
    for current, dirnames, filenames in os.walk(root):
        for name in dirnames:
            child = os.path.join(current, name)
            if not os.path.islink(child):
                folders += int(tighten(Path(child), log=False))
        for name in filenames:
            child = os.path.join(current, name)
            if not os.path.islink(child):
                files += int(tighten(Path(child), log=False))
    if folders or files:
        logger.warning("tightened permissions under %s: %d folder(s) to 0700, %d file(s) to 0600",
                       root, folders, files)
    return folders, files


def tighten_tree_once(root: Path) -> None:
    """`tighten_tree(root)` the first time this process opens `root`.

    Why once: the attachment store is opened by several assets of every run, and walking a tree of many
    thousands of documents each time would cost more than the check is worth; files Well adds afterwards are
    created private anyway.
    """
    key = str(Path(root).resolve())
    with _trees_lock:
        if key in _trees_done:
            return
        _trees_done.add(key)
    if Path(root).is_dir():
        tighten_tree(Path(root))
