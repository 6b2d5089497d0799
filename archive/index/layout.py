"""The index directory: immutable generations, an atomic ``CURRENT`` pointer and a build lock.

    var/index/
      CURRENT                    name of the live generation (replaced atomically)
      generations/<id>/          one complete index: manifest.json, keyword/, vectors.faiss, store.sqlite
      generations/.building-<id>/  a build in progress; never read, removed by the next build
      embedding-cache.sqlite     shared by all generations
      build.lock                 held (flock) by the one running build or update

A build writes a new directory, fsyncs it, renames it into place and only then replaces
``CURRENT``. A crash at any point leaves ``CURRENT`` naming the previous, intact generation.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from ..errors import BuildLockedError, IndexNotFoundError

BUILDING_PREFIX = ".building-"
KEEP_GENERATIONS = 2  # the live one and its predecessor, which in-flight readers may still use


class IndexLayout:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.generations = self.root / "generations"
        self.current_file = self.root / "CURRENT"
        self.cache_path = self.root / "embedding-cache.sqlite"
        self.lock_path = self.root / "build.lock"

    def current_name(self) -> str | None:
        try:
            name = self.current_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return name or None

    def current_directory(self) -> Path:
        name = self.current_name()
        if name is None:
            if self.root.exists() and any(self.generations.glob("[!.]*")):
                raise IndexNotFoundError(f"index at {self.root} has no CURRENT pointer")
            raise IndexNotFoundError(f"no index at {self.root}")
        directory = self.generations / name
        if not directory.is_dir():
            raise IndexNotFoundError(f"index generation {name} named by {self.current_file} is missing")
        return directory

    def new_build_directory(self) -> tuple[str, Path]:
        generation = new_generation_id()
        directory = self.generations / f"{BUILDING_PREFIX}{generation}"
        directory.mkdir(parents=True)
        return generation, directory

    def publish(self, build_directory: Path, generation: str) -> Path:
        """Make a finished build live: rename it into place, then swap CURRENT atomically."""
        sync_tree(build_directory)
        final = self.generations / generation
        os.replace(build_directory, final)
        sync_directory(self.generations)
        temporary = self.root / f".CURRENT.{os.getpid()}"
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(generation + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, self.current_file)
        sync_directory(self.root)
        return final

    def remove_leftovers(self) -> list[str]:
        """Partial builds of crashed runs; only called while holding the build lock."""
        removed = []
        if self.generations.exists():
            for leftover in self.generations.glob(f"{BUILDING_PREFIX}*"):
                shutil.rmtree(leftover, ignore_errors=True)
                removed.append(leftover.name)
        for stray in self.root.glob(".CURRENT.*"):
            stray.unlink(missing_ok=True)
        return removed

    def prune(self, keep: int = KEEP_GENERATIONS) -> list[str]:
        """Delete old generations: all but the newest ``keep`` and the live one, and never one
        that a reader still has open (see ``reader_lock``); that one goes at a later prune."""
        live = self.current_name()
        finished = sorted(
            (path for path in self.generations.iterdir() if path.is_dir() and not path.name.startswith(".")),
            key=lambda path: path.name,
        )
        keep_names = {path.name for path in finished[-keep:]} | {live}
        removed = []
        for path in finished:
            if path.name not in keep_names:
                with unused(path) as free:
                    if free:
                        shutil.rmtree(path, ignore_errors=True)
                        removed.append(path.name)
        return removed


def new_generation_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")  # sorts in creation order
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


READER_LOCK_FILE = "manifest.json"  # readers hold a shared flock on it while a generation is open


def reader_lock(directory: Path) -> int | None:
    """Take a shared lock that keeps ``prune`` from deleting the generation (in any process)
    while it is open; returns the descriptor to release, or None if there is no manifest."""
    try:
        descriptor = os.open(directory / READER_LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None
    fcntl.flock(descriptor, fcntl.LOCK_SH)
    return descriptor


def release_reader_lock(descriptor: int | None) -> None:
    if descriptor is not None:
        os.close(descriptor)  # closing the descriptor drops its flock


@contextlib.contextmanager
def unused(directory: Path) -> Iterator[bool]:
    """True (and held exclusively until the block ends, so no reader can open it meanwhile)
    when no reader holds the generation open; False when one does."""
    try:
        descriptor = os.open(directory / READER_LOCK_FILE, os.O_RDONLY)
    except OSError:
        yield True  # no manifest: not a generation anyone can open
        return
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)


def sync_directory(path: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def sync_tree(root: Path) -> None:
    for directory, _, files in os.walk(root):
        for name in files:
            with open(Path(directory) / name, "rb") as stream:
                os.fsync(stream.fileno())
        sync_directory(Path(directory))


@contextlib.contextmanager
def build_lock(layout: IndexLayout, wait: bool = False, timeout: float = 3600.0) -> Iterator[None]:
    """One builder at a time. flock is released by the kernel when a holder dies, so a lock
    left by a killed build is never stale: the next build simply acquires it."""
    layout.root.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(layout.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    acquired = False
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                acquired = True
                break
            except OSError as problem:
                if problem.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if not wait or time.monotonic() > deadline:
                    holder = os.pread(descriptor, 64, 0).decode(errors="replace").strip() or "another process"
                    raise BuildLockedError(
                        f"another build is running on {layout.root} (pid {holder})"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode(), 0)
        yield
    finally:
        if acquired:
            with contextlib.suppress(OSError):
                os.ftruncate(descriptor, 0)
        os.close(descriptor)
