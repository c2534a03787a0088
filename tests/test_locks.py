"""The machine's locks: private, named so that nothing can be read from the name, and removed."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from bot.locks import LockTimeout, lock_folder, machine_lock

KEY = ("usager", "http://x", "DUPONT", "MARIE", "1940-05-12")


def test_lock_files_live_in_the_private_data_folder_and_are_removed_on_release(
    tmp_path: Path,
) -> None:
    folder = lock_folder(tmp_path / "queue" / "queue.db")
    lock = machine_lock(*KEY, folder=folder, timeout=1)

    with lock:
        assert lock.path.parent == tmp_path / "queue" / "locks"
        assert lock.path.exists()
        assert lock.path.stat().st_mode & 0o777 == 0o600
        assert folder.stat().st_mode & 0o777 == 0o700
    assert not lock.path.exists()
    assert sorted(p.name for p in folder.iterdir()) == [".key"]
    assert (folder / ".key").stat().st_mode & 0o777 == 0o600


def test_lock_names_are_keyed_per_installation_never_a_plain_hash_of_the_identity(
    tmp_path: Path,
) -> None:
    here = machine_lock(*KEY, folder=tmp_path / "a", timeout=1)
    there = machine_lock(*KEY, folder=tmp_path / "b", timeout=1)

    plain = hashlib.sha256("\0".join(KEY[1:]).encode()).hexdigest()
    for lock in (here, there):
        assert "DUPONT" not in lock.path.name
        assert "1940" not in lock.path.name
        assert plain[:20] not in lock.path.name  # the old name, computable by anyone
    assert here.path.name != there.path.name  # another installation, another secret
    assert machine_lock(*KEY, folder=tmp_path / "a", timeout=1).path == here.path


def test_a_held_lock_makes_another_thread_wait_then_time_out(tmp_path: Path) -> None:
    folder = tmp_path / "locks"
    held = machine_lock(*KEY, folder=folder, timeout=1)
    outcome: list[str] = []

    def other() -> None:
        try:
            with machine_lock(*KEY, folder=folder, timeout=0.3):
                outcome.append("took it")
        except LockTimeout:
            outcome.append("timed out")

    with held:
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert outcome == ["timed out"]
    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert outcome == ["timed out", "took it"]


def test_many_threads_never_hold_a_removed_lock_together(tmp_path: Path) -> None:
    # Removing the file on release must not let a waiter keep a lock on the unlinked file
    # while a newcomer locks the new one.
    folder = tmp_path / "locks"
    inside = 0
    most = 0
    guard = threading.Lock()

    def worker() -> None:
        nonlocal inside, most
        for _ in range(40):
            with machine_lock(*KEY, folder=folder, timeout=10):
                with guard:
                    inside += 1
                    most = max(most, inside)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 1
    assert [p.name for p in folder.iterdir()] == [".key"]
