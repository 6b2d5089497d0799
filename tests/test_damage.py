"""A damaged generation is never served (issue 24).

Every file of a generation is recorded in its manifest (size and SHA-256). A file cut short or
with one byte changed is refused when the generation opens, naming the file; at start-up the
server says so once and exits 3, and a damaged generation that goes live is passed over while
the previous one keeps serving, with /healthz "degraded" until a rebuild repairs it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, SEED_CORPUS

from archive.archive import Archive
from archive.backends.embedded.rebuild import rebuild
from archive.errors import IndexCorruptError
from archive.index import integrity
from archive.index.layout import IndexLayout
from archive.index.manifest import MANIFEST_NAME
from archive.settings import DEFAULT_MODEL
from indexer.cli import main

# Every kind of file a generation holds (Whoosh names its segment files at random).
FILES = ["store.sqlite", "impacts.npz", "catalog.npz", "vectors.faiss", "keyword/*.seg", "keyword/*.toc"]


def damage(directory: Path, pattern: str, how: str) -> str:
    """Cut one file short, or flip one byte in its middle; its name relative to ``directory``."""
    path = sorted(directory.glob(pattern))[0]
    data = bytearray(path.read_bytes())
    if how == "truncate":
        del data[-22:]
    else:
        data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path.relative_to(directory).as_posix()


def live_directory(root: Path) -> Path:
    return IndexLayout(root).current_directory()


def damaged_generation_goes_live(root: Path, pattern: str, how: str) -> tuple[str, str]:
    """A new generation, a copy of the live one with one file damaged, made live as a build
    makes one live. Returns (its name, the damaged file)."""
    layout = IndexLayout(root)
    generation, directory = layout.new_build_directory()
    shutil.copytree(layout.current_directory(), directory, dirs_exist_ok=True)
    name = damage(directory, pattern, how)
    layout.publish(directory, generation)
    return generation, name


def test_every_file_of_a_generation_is_recorded_in_its_manifest(seed_index):
    directory = live_directory(seed_index)
    recorded = json.loads((directory / MANIFEST_NAME).read_text())["files"]
    on_disk = {path.relative_to(directory).as_posix() for path in directory.rglob("*")
               if path.is_file() and path.name != MANIFEST_NAME and not path.name.endswith("_WRITELOCK")}
    assert set(recorded) == on_disk and len(recorded) >= 5
    assert all(len(entry["sha256"]) == 64 and entry["size"] == (directory / name).stat().st_size
               for name, entry in recorded.items())


@pytest.mark.parametrize("how", ["truncate", "flip"])
@pytest.mark.parametrize("pattern", FILES)
def test_a_damaged_file_is_refused_when_the_generation_opens_naming_it(pattern, how, built_index, embedder):
    name = damage(live_directory(built_index), pattern, how)
    expected = "has .* bytes, the manifest says" if how == "truncate" else "does not match its checksum"
    with pytest.raises(IndexCorruptError, match=rf"index generation \S+ is damaged: {re.escape(name)} {expected}") as caught:
        Archive.open(built_index, embedder=embedder)
    assert caught.value.hint == "run `indexer rebuild` to build a fresh index"


def test_any_error_a_damaged_file_raises_becomes_the_archives_own(built_index, embedder):
    """Without checksums (a generation built before they were recorded), a cut-short file still
    fails as an IndexCorruptError, whatever the reader raised (zipfile.BadZipFile here)."""
    directory = live_directory(built_index)
    manifest = json.loads((directory / MANIFEST_NAME).read_text())
    manifest["files"] = {}
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest))
    (directory / "impacts.npz").write_bytes((directory / "impacts.npz").read_bytes()[:-22])
    with pytest.raises(IndexCorruptError, match=r"cannot be opened|cannot be read"):
        Archive.open(built_index, embedder=embedder)


def test_verify_checks_as_opening_does_and_full_reads_every_byte(built_index, monkeypatch):
    runner = CliRunner()
    result = runner.invoke(main, ["verify", "--index", str(built_index)])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"generation \S+: \d+ files sound, checked as opening does "
                        r"\(`indexer verify --full` reads every byte\)\n", result.output)
    # A large generation: opening checks sizes (and small files' checksums) only; --full finds a changed byte.
    monkeypatch.setattr(integrity, "CHECKSUM_ON_OPEN_BYTES", 0)
    monkeypatch.setattr(integrity, "SMALL_FILE_BYTES", 0)
    directory = live_directory(built_index)
    name = damage(directory, "vectors.faiss", "flip")
    assert runner.invoke(main, ["verify", "--index", str(built_index)]).exit_code == 0
    result = runner.invoke(main, ["verify", "--full", "--index", str(built_index)])
    assert result.exit_code == 3
    generation = json.loads((directory / MANIFEST_NAME).read_text())["generation"]
    problem = f"{name} does not match its checksum (changed or damaged since it was built)"
    assert result.output == (f"generation {generation}: DAMAGED: {problem}\n"
                             f"error: generation {generation} is damaged: {problem}\n"
                             "hint: run `indexer rebuild` to build a fresh index\n")
    report = json.loads(runner.invoke(main, ["verify", "--full", "--json", "--index", str(built_index)]).output
                        .splitlines()[0])
    assert report["problems"] == [problem] and report["full"] is True


def test_status_shows_the_integrity_check(built_index):
    result = CliRunner().invoke(main, ["status", "--index", str(built_index), "--corpus", str(SEED_CORPUS)])
    assert result.exit_code == 0
    assert re.search(r"^integrity:  \d+ files sound, checked as opening does", result.output, re.M)
    name = damage(live_directory(built_index), "store.sqlite", "flip")
    result = CliRunner().invoke(main, ["status", "--index", str(built_index), "--corpus", str(SEED_CORPUS)])
    assert result.exit_code == 3
    problem = f"{name} does not match its checksum (changed or damaged since it was built)"
    assert f"staleness:  not compared (the generation is damaged)\nintegrity:  DAMAGED: {problem}\n" in result.output
    assert result.output.endswith(f"is damaged: {problem}\nhint: run `indexer rebuild` to build a fresh index\n")


def test_workers_that_keep_failing_as_they_start_stop_the_server():
    script = "\n".join([
        "import logging, sys",
        "from web import server",
        "logging.basicConfig(level=logging.INFO)",
        "def broken():",
        "    raise RuntimeError('no app')",
        "server.serve(broken, lambda app: None, '127.0.0.1', 0, 1, 2, lambda address, count: None)",
    ])
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and time.monotonic() - started < 30
    assert "workers keep failing as they start (3 in a row); stopping" in result.stderr


@pytest.mark.parametrize("workers", ["2", "1"])  # the probe in a child before forking; in the process itself
def test_the_server_refuses_a_damaged_index_at_start_up_once(workers, built_index):
    name = damage(live_directory(built_index), "impacts.npz", "truncate")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "indexer", "serve", "--index", str(built_index), "--port", "0",
                             "--workers", workers], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 3 and time.monotonic() - started < 60
    lines = [line for line in result.stderr.splitlines() if line.startswith(("error:", "hint:"))]
    assert len(lines) == 2, result.stderr
    assert re.fullmatch(rf"error: index generation \S+ is damaged: {re.escape(name)} has [\d,]+ bytes, "
                        r"the manifest says [\d,]+", lines[0])
    assert lines[1] == "hint: run `indexer rebuild` to build a fresh index"


@pytest.mark.slow
@pytest.mark.parametrize("pattern,how", [("impacts.npz", "truncate"), ("store.sqlite", "flip"),
                                         ("keyword/*.seg", "flip"), ("vectors.faiss", "truncate")])
def test_a_damaged_generation_going_live_under_load_is_passed_over(pattern, how, built_index, embedder, caplog):
    from web import create_app

    app = create_app({"INDEX_DIR": str(built_index), "TESTING": False, "EMBEDDER": embedder})
    client = app.test_client()
    served = client.get("/healthz").get_json()["generation"]
    statuses: list[int] = []
    stop = threading.Event()

    def search() -> None:
        local = app.test_client()
        while not stop.is_set():
            for url in ("/api/search?q=potash+exports", "/api/search?q=Minsk&mode=keyword", "/search?q=Putin"):
                statuses.append(local.get(url).status_code)

    threads = [threading.Thread(target=search) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        generation, name = damaged_generation_goes_live(built_index, pattern, how)
        deadline = time.monotonic() + 10
        health = client.get("/healthz").get_json()
        while health["status"] != "degraded" and time.monotonic() < deadline:
            time.sleep(0.2)
            health = client.get("/healthz").get_json()
        assert health["status"] == "degraded" and health["generation"] == served
        assert f"generation {generation} is not served (still serving " in health["reason"]
        assert name in health["reason"] and "run `indexer rebuild`" in health["reason"]
        time.sleep(1.5)  # more checks come and go: it is not opened again, nor logged again
        assert sum("is not served" in record.getMessage() for record in caplog.records) == 1
        repaired = rebuild(SEED_CORPUS, built_index, DEFAULT_MODEL, embedder=embedder)
        deadline = time.monotonic() + 10
        while client.get("/healthz").get_json()["status"] != "ok" and time.monotonic() < deadline:
            time.sleep(0.2)
        health = client.get("/healthz").get_json()
        assert health == {"status": "ok", "generation": repaired.generation, "index": "ready", "reason": None}
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert len(statuses) > 20 and set(statuses) == {200}
