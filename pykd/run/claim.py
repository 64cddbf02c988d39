"""One run at a time in a checkpoint_dir.

Two runs started together on one checkpoint_dir would both pass the up-front checks (no
checkpoint yet) and then overwrite each other's checkpoints. So a run claims the folder
before its checks and holds it until it ends; a second run is refused, naming the first.

Local folders: an exclusive flock on `pykd-run.lock`, which the system releases when the
process ends however it ends. URLs (object stores have no lock): an owner file holding a
heartbeat the run renews every HEARTBEAT seconds; an owner file older than STALE seconds
is a run that died. Two runs starting on a URL in the same instant both write the file;
the one whose token is not there when it reads it back steps aside.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ..core import storage
from ..core.errors import DataError
from .resume import probe_writable

LOCK, OWNER = "pykd-run.lock", "pykd-run.owner"
HEARTBEAT, STALE = 30.0, 120.0


@contextmanager
def claimed(directory) -> Iterator[None]:
    """Hold `directory` (a checkpoint_dir) for this run; DataError naming the run that holds it."""
    if directory is None:
        yield
        return
    probe_writable(directory, "checkpoint_dir")  # a file, or a folder that cannot be written: said as such
    storage.makedirs(directory)
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
             "token": secrets.token_hex(8), "directory": _folder(directory)}
    if storage.is_url(directory):
        with _claimed_url(directory, owner):
            yield
        return
    fd = os.open(os.path.join(directory, LOCK), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _refuse(directory, _read_owner(directory))
        storage.write_bytes_atomic(storage.join(directory, OWNER), json.dumps(owner).encode())
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def _claimed_url(directory: str, owner: dict) -> Iterator[None]:
    path = storage.join(directory, OWNER)
    held = _read_owner(directory)
    if held is not None and time.time() - held.get("beat", 0) < STALE:
        _refuse(directory, held)
    beat = lambda: storage.write_bytes_atomic(path, json.dumps({**owner, "beat": time.time()}).encode())  # noqa: E731
    beat()
    time.sleep(0.5)  # another run that wrote at the same instant: whoever's file is there now holds the folder
    held = _read_owner(directory)
    if held is not None and held.get("token") != owner["token"]:
        _refuse(directory, held)
    stop = threading.Event()

    def renew():
        while not stop.wait(HEARTBEAT):
            held = _read_owner(directory)
            if held is not None and held.get("token") != owner["token"]:
                return  # taken over (this run was silent past STALE): never write over another run's claim
            try:
                beat()
            except OSError:
                continue  # tried again at the next beat

    thread = threading.Thread(target=renew, name="pykd-claim-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        try:
            storage.remove(path)
        except OSError:
            pass


def _read_owner(directory) -> dict | None:
    """The run holding `directory`, as its owner file says; None if none (an owner file copied along with a
    checkpoint from another folder names that folder, and holds nothing here)."""
    try:
        owner = json.loads(storage.read_text(storage.join(directory, OWNER)))
    except (OSError, ValueError):
        return None
    return owner if owner.get("directory") == _folder(directory) else None


def _folder(directory) -> str:
    return storage.tidy(directory).rstrip("/")


def _refuse(directory, owner: dict | None) -> None:
    who = "another run" if owner is None else \
        f"another run (process {owner.get('pid')} on {owner.get('host')}, started {owner.get('started')})"
    raise DataError(f"checkpoint_dir {{directory}} is in use by {who}: two runs would overwrite each other's "
                    "checkpoints.", "Wait for that run to end, or give this run another checkpoint_dir.",
                    directory=str(directory))
