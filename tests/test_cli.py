import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_build import run_indexer

from indexer.cli import main


@pytest.fixture
def cli():
    return CliRunner()


def test_search_prints_the_article_with_its_highlighted_passage(cli, seed_index):
    result = cli.invoke(main, ["search", "potash exports", "--index", str(seed_index), "-k", "1"])
    assert result.exit_code == 0, result.output
    assert "A military attack on Ukraine is feared as Putin arrives in Belarus" in result.output
    assert "[potash]" in result.output and "keyword #1" in result.output
    assert "⟨" in result.output  # the sentence closest in meaning


def test_search_json_is_the_library_shape(cli, seed_index, archive):
    result = cli.invoke(main, ["search", "potash exports", "--index", str(seed_index), "--json", "--mode", "keyword"])
    assert result.exit_code == 0
    printed = json.loads(result.output)
    expected = archive.search("potash exports", mode="keyword").to_dict()
    printed.pop("took_ms"), expected.pop("took_ms")
    assert printed == expected


def test_rebuild_json_summary(cli, corpus_copy, fresh_index):
    result = cli.invoke(main, ["rebuild", "--corpus", str(corpus_copy), "--index", str(fresh_index), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert {"articles", "passages", "skipped", "embedded", "reused", "seconds"} <= set(summary)
    assert (summary["articles"], summary["embedded"], summary["skipped"]) == (5, 0, [])
    assert summary["reused"] == summary["passages"]
    assert summary["seconds"]["total"] > 0


def test_rebuild_text_summary(cli, corpus_copy, fresh_index):
    (corpus_copy / "broken.jsonl").write_text("{not json\n")
    result = cli.invoke(main, ["rebuild", "--corpus", str(corpus_copy), "--index", str(fresh_index)])
    assert result.exit_code == 0, result.output
    assert "indexed 5 articles (1 story) as" in result.output
    assert "embeddings: 0 computed" in result.output
    assert "skipped 1 item(s):\n  broken.jsonl:1: malformed JSON line" in result.output


def test_status_reports_staleness(cli, corpus_copy, fresh_index):
    cli.invoke(main, ["rebuild", "--corpus", str(corpus_copy), "--index", str(fresh_index)])
    fresh = json.loads(cli.invoke(main, ["status", "--index", str(fresh_index), "--json"]).output)
    assert fresh["up_to_date"] is True and fresh["articles"] == 5 and fresh["model"].endswith("all-MiniLM-L6-v2")
    (corpus_copy / "new.txt").write_text("New story\n\nSomething happened.\n")
    (corpus_copy / "003_5efb497116866064.txt").unlink()
    with open(corpus_copy / "000_a579cd71521fd787.txt", "a") as stream:
        stream.write("\n\nA late correction.\n")
    stale = cli.invoke(main, ["status", "--index", str(fresh_index), "--corpus", str(corpus_copy)])
    assert stale.exit_code == 0
    assert "staleness:  1 new, 1 changed, 1 deleted" in stale.output


@pytest.mark.parametrize(
    "arguments,exit_code,message",
    [
        (["search", "potash", "--index", "{missing}"], 3, "error: no index at {missing}\nhint: run `indexer rebuild` to build it\n"),
        (["status", "--index", "{missing}"], 3, "error: no index at {missing}\nhint: run `indexer rebuild` to build it\n"),
        (["rebuild", "--corpus", "{missing}", "--index", "{missing}"], 2,
         "error: corpus not found: {missing}\nhint: pass --corpus PATH or set ARCHIVE_CORPUS to a folder or file of articles\n"),
        (["search", "potash", "-k", "500", "--index", "{seed}"], 2, "error: k must be a whole number from 1 to 100\n"),
        (["search", "", "--index", "{seed}"], 2, "error: the query is empty\nhint: type some words to search for\n"),
        (["search", "potash", "--from", "yesterday", "--index", "{seed}"], 2,
         "error: date_from must be a date as YYYY-MM-DD, not 'yesterday'\n"),
        (["rebuild", "--fields", "colour=red", "--index", "{missing}"], 2,
         "error: bad field mapping 'colour=red'\nhint: use FIELD=KEY[|KEY…], FIELD one of: id, title, date, source, url, body\n"),
    ],
)
def test_errors_are_one_line_with_a_hint_and_an_exit_code(tmp_path, seed_index, arguments, exit_code, message):
    values = {"missing": str(tmp_path / "missing"), "seed": str(seed_index)}
    completed = run_indexer(*[argument.format(**values) for argument in arguments])
    assert completed.returncode == exit_code
    assert completed.stderr == message.format(**values)
    assert "Traceback" not in completed.stdout + completed.stderr


def test_an_unexpected_failure_is_one_line_without_a_traceback(cli, seed_index, monkeypatch):
    from archive.archive import Archive

    def explode(*arguments, **options):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Archive, "search", explode)
    result = cli.invoke(main, ["search", "potash", "--index", str(seed_index)])
    assert result.exit_code == 70
    assert result.output == ("error: unexpected RuntimeError: disk on fire\n"
                             "hint: this is a bug; rerun with ARCHIVE_DEBUG=1 to see the traceback and report it\n")


def test_search_output_cut_by_characters_never_breaks_a_mark(cli, seed_index):
    result = cli.invoke(main, ["search", "Lukashenko Putin Belarus visit", "--index", str(seed_index), "-k", "5"])
    assert result.exit_code == 0, result.output
    passages = [line for line in result.output.splitlines() if line.startswith("   [")]
    assert passages
    for line in passages:
        assert "<" not in line and ">" not in line  # no markup, broken or whole
        text = line.split("] ", 1)[1]
        assert text.count("[") == text.count("]") and text.count("⟨") == text.count("⟩")


def test_search_in_colour_styles_marks_as_the_terminal_shows_them():
    from archive import Mark, Snippet
    from indexer.cli import styled

    snippet = Snippet("Potash exports fell.", (Mark(0, 20, "semantic"), Mark(0, 6, "keyword")))
    assert styled(snippet, color=False) == "⟨[Potash] exports fell.⟩"
    coloured = styled(snippet, color=True)
    assert "\x1b[" in coloured and "<" not in coloured
    assert click_unstyle(coloured) == "Potash exports fell."


def click_unstyle(text):
    import click

    return click.unstyle(text)


def test_a_closed_pipe_ends_the_command_quietly(seed_index):
    import os
    import subprocess
    import sys

    from conftest import ROOT

    # `indexer search … | head`, with the reader already gone: every write meets a closed pipe.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        completed = subprocess.run([sys.executable, "-m", "indexer", "search", "Putin Belarus", "--index",
                                    str(seed_index), "--mode", "keyword"], cwd=ROOT, stdout=write_end,
                                   stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert completed.returncode == 141  # as a shell reports a program ended by SIGPIPE
    assert completed.stderr == ""


def test_keyword_search_does_not_load_the_model(seed_index):
    import subprocess
    import sys

    from conftest import ROOT

    script = ("import sys\nfrom click.testing import CliRunner\nfrom indexer.cli import main\n"
              f"result = CliRunner().invoke(main, ['search', 'potash', '--mode', 'keyword', '--index', {str(seed_index)!r}])\n"
              "assert result.exit_code == 0, result.output\n"
              "print('potash' in result.output.lower(), 'torch' in sys.modules, 'sentence_transformers' in sys.modules)\n")
    completed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.stdout.split() == ["True", "False", "False"], completed.stderr


def test_bad_option_is_a_usage_error(tmp_path):
    completed = run_indexer("search", "potash", "--mode", "fuzzy")
    assert completed.returncode == 2
    assert "Invalid value for '--mode': 'fuzzy' is not one of 'hybrid', 'keyword', 'semantic'." in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.slow
def test_serve_runs_a_worker_per_requested_process_and_stops_them_all(seed_index, tmp_path):
    """`indexer serve --workers 2`: two worker processes answer on one port, searching by
    meaning with the query encoder the parent opened before forking them; SIGTERM to the
    parent ends every worker."""
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    from conftest import ROOT

    from bench.load import free_port

    port = free_port()
    errors = open(tmp_path / "stderr", "w+")
    server = subprocess.Popen([sys.executable, "-m", "indexer", "serve", "--index", str(seed_index), "--port", str(port),
                               "--workers", "2", "--threads", "2"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=errors, text=True, env={**os.environ, "ARCHIVE_QUERY_THREADS": "1"})
    try:
        assert server.stdout.readline().startswith(f"Serving the news archive at http://127.0.0.1:{port}/")
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
        children_file = Path(f"/proc/{server.pid}/task/{server.pid}/children")
        children = [int(pid) for pid in children_file.read_text().split()]
        assert len(children) == 2
        for _ in range(6):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/search?q=potash&mode=semantic", timeout=30) as response:
                assert response.status == 200 and json.load(response)["results"]
        os.kill(children[0], signal.SIGKILL)  # a worker dies: another takes its place
        deadline = time.monotonic() + 60
        while True:
            now = [int(pid) for pid in children_file.read_text().split()]
            if len(now) == 2 and children[0] not in now:
                break
            assert time.monotonic() < deadline, "no worker replaced the one that died"
            time.sleep(0.2)
        server.terminate()
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        server.stdout.close()
        errors.seek(0)
        logged = errors.read()
        errors.close()
    from archive.settings import DEFAULT_MODEL

    assert f"The query encoder of {DEFAULT_MODEL} is opened once and shared by the workers\n" in logged
    assert "Traceback" not in logged
    for pid in now:
        status = Path(f"/proc/{pid}/status")
        assert not status.exists() or "zombie" in status.read_text().lower()


def test_serve_reports_a_wrong_setting_once_without_starting_workers(seed_index):
    from tests.test_build import run_indexer

    completed = run_indexer("serve", "--index", str(seed_index), "--port", "0", "--workers", "2",
                            env_extra={"ARCHIVE_QUERY_BUDGET_MS": "0"})
    assert completed.returncode == 2
    assert completed.stderr == "error: ARCHIVE_QUERY_BUDGET_MS must be a whole number, at least 1, not 0\n"
