"""Where document bytes live. The interface is small so that an object store can replace the local
filesystem; the local backend never leaves a half-written file under a real key."""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    key: str
    size: int
    sha256: str


class Storage(Protocol):
    def save(self, stream: BinaryIO) -> StoredFile: ...

    def open(self, key: str) -> BinaryIO: ...

    def delete(self, key: str) -> None: ...

    def entries(self) -> Iterator[tuple[str, datetime]]:
        """Every stored key with the time it was stored (UTC)."""
        ...

    def purge_temporary(self, *, older_than: datetime) -> None:
        """Remove what interrupted saves left behind."""
        ...


class LocalStorage:
    """Files under ``root``, sharded by the first characters of a random key.

    A save writes a temporary file in ``root/tmp``, fsyncs it, renames it into place (atomic on one
    filesystem) and fsyncs the directory: after a crash, a key either names a whole file or nothing.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.temporary = root / "tmp"

    def _path(self, key: str) -> Path:
        if len(key) < 8 or not key.isalnum():
            raise ValueError("clé de stockage invalide")
        return self.root / key[:2] / key[2:4] / key

    def save(self, stream: BinaryIO) -> StoredFile:
        self.temporary.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        descriptor, temporary_name = tempfile.mkstemp(dir=self.temporary)
        try:
            with os.fdopen(descriptor, "wb") as output:
                while chunk := stream.read(CHUNK_SIZE):
                    digest.update(chunk)
                    size += len(chunk)
                    output.write(chunk)
                output.flush()
                os.fsync(output.fileno())
            key = secrets.token_hex(20)
            final = self._path(key)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temporary_name, final)
        except BaseException:
            Path(temporary_name).unlink(missing_ok=True)
            raise
        _fsync_directory(final.parent)
        return StoredFile(key=key, size=size, sha256=digest.hexdigest())

    def open(self, key: str) -> BinaryIO:
        return self._path(key).open("rb")

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def entries(self) -> Iterator[tuple[str, datetime]]:
        for path in self.root.glob("??/??/*"):
            if path.is_file() and path.name[:2] == path.parent.parent.name:
                yield path.name, _modified_at(path)

    def purge_temporary(self, *, older_than: datetime) -> None:
        for path in self.temporary.glob("*") if self.temporary.exists() else ():
            if path.is_file() and _modified_at(path) < older_than:
                path.unlink(missing_ok=True)


def _modified_at(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
