"""Queries embedded by the ONNX export of the model: the same vectors as torch, checked at
open, and torch again (with the reason in `indexer status`) when the export cannot be used."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from archive import Archive, InvalidParameterError
from archive.index import query_encoder
from archive.index.query_encoder import PROBES, encoder_directory, open_query_encoder, share_query_encoder
from indexer.cli import main


def test_a_build_exports_the_model_and_queries_use_it(seed_index, embedder):
    directory = encoder_directory(seed_index, embedder.name)
    assert {path.name for path in directory.iterdir()} == {"model.onnx", "model.onnx.data", "probe.npz", "tokenizer.json",
                                                        "export.json"}
    encoder, status = open_query_encoder(seed_index, embedder.name)
    assert encoder is not None and status.backend == "onnx"
    queries = ["potash exports", "Will Belarus join the war?", "Naiev", "x" * 3000]  # the last one is truncated
    ours, torch_vectors = encoder.encode_queries(queries), embedder.encode_queries(queries)
    assert np.min(np.sum(ours * torch_vectors, axis=1)) >= 0.99999
    maps = Path("/proc/self/maps").read_text()
    assert str(directory / "model.onnx.data") in maps  # the weights memory-mapped, shared between processes
    opened = Archive.open(seed_index, embedder=embedder)
    opened.prepare()  # what the first search by meaning does
    assert opened.current().semantic.onnx is not None
    opened.close()


def test_the_export_is_made_once_per_index_directory(corpus_copy, fresh_index, embedder):
    from archive import rebuild
    from archive.settings import DEFAULT_MODEL

    first = rebuild(corpus_copy, fresh_index, DEFAULT_MODEL, embedder=embedder)
    assert "query_encoder" not in first.seconds  # fresh_index came with the seed's export
    shutil.rmtree(fresh_index / "query-encoder")
    second = rebuild(corpus_copy, fresh_index, DEFAULT_MODEL, embedder=embedder)
    assert second.seconds["query_encoder"] > 0
    assert (encoder_directory(fresh_index, DEFAULT_MODEL) / "export.json").exists()
    # An export from before the weights had a file of their own is made again by the next build.
    export = encoder_directory(fresh_index, DEFAULT_MODEL) / "export.json"
    old = json.loads(export.read_text())
    export.unlink()  # (a new file: never write into one a test's index may share with the seed's)
    export.write_text(json.dumps({key: value for key, value in old.items() if key != "layout"}))
    third = rebuild(corpus_copy, fresh_index, DEFAULT_MODEL, embedder=embedder)
    assert third.seconds["query_encoder"] > 0 and json.loads(export.read_text())["layout"] == 2


@pytest.mark.parametrize("damage,reason", [
    ("remove", "no ONNX export of this model yet"),
    ("disagree", "the ONNX export disagrees with torch"),
    ("corrupt", "the ONNX export cannot be used"),
    ("weights", "the ONNX export cannot be used"),
])
def test_a_missing_or_wrong_export_falls_back_to_torch_and_says_why(seed_index, tmp_path, embedder, damage, reason):
    index = tmp_path / "index"
    shutil.copytree(seed_index, index)
    directory = encoder_directory(index, embedder.name)
    if damage == "remove":
        shutil.rmtree(directory)
    elif damage == "disagree":  # as if torch had given other vectors at export time
        vectors = np.load(directory / "probe.npz")["vectors"]
        np.savez(directory / "probe.npz", vectors=np.roll(vectors, 1, axis=0))
    elif damage == "weights":
        (directory / "model.onnx.data").unlink()
    else:
        (directory / "model.onnx").write_bytes(b"not a model")
    encoder, status = open_query_encoder(index, embedder.name)
    assert encoder is None and status.backend == "torch" and status.reason.startswith(reason)
    opened = Archive.open(index, embedder=embedder)
    assert opened.search("potash exports", mode="semantic").results[0].id == "001_6d7df644afd5a1ff"
    assert opened.current().semantic.onnx is None
    opened.close()
    report = json.loads(CliRunner().invoke(main, ["status", "--index", str(index), "--json"]).output)
    assert report["query_encoder"]["backend"] == "torch" and report["query_encoder"]["reason"].startswith(reason)


def test_an_encoder_shared_before_a_fork_serves_the_forked_process_until_the_export_changes(
        seed_index, tmp_path, embedder, monkeypatch):
    """What `indexer serve` does before forking single-threaded workers: each worker then uses
    the parent's session (its prepacked weights are shared pages) instead of opening its own."""
    import select
    import signal

    monkeypatch.setattr(query_encoder, "_shared", {})
    index = tmp_path / "index"
    (index / query_encoder.DIRECTORY).mkdir(parents=True)
    directory = encoder_directory(index, embedder.name)
    shutil.copytree(encoder_directory(seed_index, embedder.name), directory, copy_function=os.link)
    assert not share_query_encoder(index, "no/such-model")
    tasks = len(os.listdir("/proc/self/task"))
    assert share_query_encoder(index, embedder.name)
    assert len(os.listdir("/proc/self/task")) == tasks  # one thread: no pool that a fork would lose
    shared, status = open_query_encoder(index, embedder.name, threads=1)
    assert shared is query_encoder._shared[directory][1] and status.backend == "onnx"
    expected = embedder.encode_queries(["potash exports"])[0]
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the worker: the parent's session embeds here
        try:
            encoder = open_query_encoder(index, embedder.name, threads=1)[0]
            vector = encoder.encode_queries(["potash exports"])[0]
            os.write(writer, b"%d %.7f" % (encoder is shared, float(np.dot(vector, expected))))
        except BaseException as problem:  # (said at once, rather than waited for)
            os.write(writer, f"failed {type(problem).__name__}: {problem}".encode()[:400])
        finally:
            os._exit(0)
    os.close(writer)
    try:
        assert select.select([reader], [], [], 60)[0], "the forked process did not answer (a deadlock?)"
        answer = os.read(reader, 500).decode().split()
    finally:
        os.close(reader)
        if os.waitpid(child, os.WNOHANG) == (0, 0):
            os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    assert answer[0] == "1" and float(answer[1]) >= 0.99999, answer
    assert open_query_encoder(index, embedder.name, threads=2)[0] is not shared  # a pool of its own
    # A build exports again (a new directory renamed in): the new export is opened, not the shared one.
    staging = tmp_path / "staging"
    shutil.copytree(directory, staging, copy_function=os.link)
    (staging / "export.json").unlink()
    (staging / "export.json").write_text((directory / "export.json").read_text())
    shutil.rmtree(directory)
    os.replace(staging, directory)
    again, status = open_query_encoder(index, embedder.name, threads=1)
    assert again is not None and again is not shared and status.backend == "onnx"


def test_status_says_how_queries_are_embedded(seed_index):
    result = CliRunner().invoke(main, ["status", "--index", str(seed_index)])
    assert result.exit_code == 0
    assert "queries:    embedded with onnx (lowest probe cosine to torch" in result.output
    assert f"over {len(PROBES)} probes)" in result.output


def test_query_threads_are_the_process_share_of_the_cores(seed_index, embedder, monkeypatch):
    one = Archive.open(seed_index, embedder=embedder, query_threads=1)
    one.prepare()
    assert one.current().semantic.onnx.session.get_session_options().intra_op_num_threads == 1
    one.close()
    everything = Archive.open(seed_index, embedder=embedder)
    everything.prepare()
    expected = __import__("os").cpu_count()
    assert everything.current().semantic.onnx.session.get_session_options().intra_op_num_threads == expected
    everything.close()
    from web import create_app

    monkeypatch.setenv("ARCHIVE_INDEX_DIR", str(seed_index))
    monkeypatch.setenv("ARCHIVE_QUERY_THREADS", "3")
    app = create_app()
    assert app.extensions["archive"].query_threads == 3
    for wrong in ("0", "two", "1.5", "true"):
        monkeypatch.setenv("ARCHIVE_QUERY_THREADS", wrong)
        with pytest.raises(InvalidParameterError, match="ARCHIVE_QUERY_THREADS must be a whole number, at least 1"):
            create_app()


def test_a_keyword_search_loads_no_model_and_a_search_by_meaning_does(seed_index):
    """The README's promise: keyword mode never loads the embedding model or its ONNX export
    (in a fresh process, since this one has them loaded already)."""
    script = "\n".join([
        "import sys",
        "from archive import Archive",
        f"archive = Archive.open({str(seed_index)!r})",
        "loaded = lambda: [name for name in ('onnxruntime', 'torch', 'sentence_transformers') if name in sys.modules]",
        "found = archive.search('potash', mode='keyword', collapse='none').results",
        "print(bool(found), loaded())",
        "archive.search('potash', mode='semantic')",
        "print('onnxruntime' in loaded())",
    ])
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["True []", "True"]
