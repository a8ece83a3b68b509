"""Where a synced store lives on disk, and how a new version of it is published atomically.

A synced store ``crm.duckdb`` is a symbolic link to an immutable snapshot::

    crm.duckdb            -> crm.duckdb.sync/000007.duckdb   (the published snapshot)
    crm.duckdb.sync/
        000006.duckdb        the previous one (readers may still hold it open)
        000007.duckdb        published
        000008.duckdb        being built by a running (or killed) sync
        lock                 held by the running sync (flock: released even by SIGKILL)

A sync copies the published snapshot to the next generation, brings the copy up to date (with
its progress inside, see ``writer.py``), and publishes it by swapping the link with an atomic
``rename``. Readers (the desktop holds the store open read-only) keep the snapshot they opened;
a new open follows the link to the new one. A published file is never written again, so a
reader never sees a half-written store and never blocks the writer. Any tool that opens a
DuckDB file opens the link, ``deskkit.open("crm.duckdb")`` included.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["SUFFIX", "Layout", "SnapshotError"]

#: The snapshot folder is the store path plus this suffix.
SUFFIX: Final = ".sync"
_NAME: Final = re.compile(r"^(\d{6})\.duckdb$")
#: Published generations kept besides the current one (for readers that opened them).
KEEP: Final = 1


class SnapshotError(RuntimeError):
    """The store path cannot be synced into (it is locked, or not a file deskkit can replace)."""


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


@dataclass(frozen=True)
class Layout:
    """The files of one synced store."""

    store: Path

    @classmethod
    def of(cls, store: str | os.PathLike[str]) -> Layout:
        path = Path(store).expanduser().absolute()
        if path.is_dir():
            raise SnapshotError(f"{path} is a folder; give the path of a .duckdb store")
        return cls(path)

    @property
    def folder(self) -> Path:
        return self.store.with_name(self.store.name + SUFFIX)

    def snapshot(self, generation: int) -> Path:
        """The file of snapshot ``generation``."""
        return self.folder / f"{generation:06d}.duckdb"

    def published(self) -> int | None:
        """The published generation: None when nothing exists yet, 0 when the store is a plain
        DuckDB file (not made by a sync: its contents become the base of the first snapshot)."""
        if self.store.is_symlink():
            target = Path(os.readlink(self.store))
            m = _NAME.match(target.name)
            if m is None or (self.store.parent / target).resolve().parent != self.folder.resolve():
                raise SnapshotError(f"{self.store} links to {target}, not to a sync snapshot")
            return int(m.group(1))
        return 0 if self.store.exists() else None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's sync lock (one sync at a time; a killed sync releases it)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SnapshotError(f"another sync of {self.store} is running") from None
            yield
        finally:
            os.close(fd)

    def prepare(self, published: int | None) -> tuple[Path, bool]:
        """The file of the next generation, copied from the published one unless a (killed)
        sync left it already. Returns (path, True if it was left by an earlier sync)."""
        base = published or 0
        target = self.snapshot(base + 1)
        # Anything else above the published generation is a leftover of a crashed copy.
        for p in self.folder.iterdir():
            m = _NAME.match(p.name)
            if (m and int(m.group(1)) > base + 1) or p.name.endswith(".partial"):
                _remove(p)
        if target.exists():
            return target, True
        source = self.store if published == 0 else None
        if published:
            source = self.snapshot(published)
        if source is not None:
            # Copy, then rename: a copy cut short is never taken for a snapshot.
            partial = target.with_name(target.name + ".partial")
            shutil.copyfile(source, partial)
            wal = source.with_name(source.name + ".wal")
            if wal.exists():  # a plain store may have unmerged changes in its WAL
                shutil.copyfile(wal, target.with_name(target.name + ".wal"))
            with open(partial, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(partial, target)
            _fsync_dir(self.folder)
        return target, False

    def discard(self, generation: int) -> None:
        """Delete an unpublished snapshot."""
        _remove(self.snapshot(generation))

    def publish(self, generation: int) -> None:
        """Point the store at snapshot ``generation`` (one atomic rename), then drop the
        generations older than the previous one."""
        target = self.snapshot(generation)
        link = self.store.with_name(f".{self.store.name}.{os.getpid()}.link")
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        os.symlink(os.path.relpath(target, self.store.parent), link)
        os.replace(link, self.store)
        _fsync_dir(self.store.parent)
        for p in self.folder.iterdir():
            m = _NAME.match(p.name)
            if m and int(m.group(1)) < generation - KEEP:
                # On POSIX a reader that still has it open keeps reading the unlinked file.
                _remove(p)
