"""The ``indexer`` command: parses options, calls the archive library, prints results.

Every ``ArchiveError`` becomes one ``error:`` line plus a ``hint:`` line on stderr and a
non-zero exit code; no traceback reaches the user.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from archive import settings
from archive.errors import ArchiveError

MODE_CHOICES = click.Choice(["hybrid", "keyword", "semantic"])


class ArchiveGroup(click.Group):
    """Translates library errors into a message, a hint and an exit code, once, here."""

    def invoke(self, context: click.Context):
        try:
            return super().invoke(context)
        except ArchiveError as problem:
            click.echo(f"error: {problem.message}", err=True)
            if problem.hint:
                click.echo(f"hint: {problem.hint}", err=True)
            context.exit(problem.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; the live index is unchanged", err=True)
            context.exit(130)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as problem:  # a bug, not a user error: still one line, no traceback
            if os.environ.get("ARCHIVE_DEBUG"):
                raise
            click.echo(f"error: unexpected {type(problem).__name__}: {problem}", err=True)
            click.echo("hint: this is a bug; rerun with ARCHIVE_DEBUG=1 to see the traceback and report it", err=True)
            context.exit(70)


def corpus_option(function):
    return click.option(
        "--corpus", type=click.Path(path_type=Path), default=None,
        help="Folder or file of articles [env ARCHIVE_CORPUS; default corpus/].",
    )(function)


def index_option(function):
    return click.option(
        "--index", "index_dir", type=click.Path(path_type=Path), default=None,
        help="Index directory [env ARCHIVE_INDEX_DIR; default var/index/].",
    )(function)


def fields_option(function):
    return click.option(
        "--fields", default=None, envvar="ARCHIVE_FIELDS",
        help="JSON field mapping, e.g. 'title=headline,body=content|text' [env ARCHIVE_FIELDS].",
    )(function)


def json_option(function):
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")(function)


@click.group(cls=ArchiveGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="news-archive")
def main() -> None:
    """Build and query the news archive's keyword and vector indexes."""


def progress_reporter(enabled: bool):
    """A progress bar on a terminal; silence otherwise (and with --json)."""
    if not enabled:
        return None, lambda: None
    bars: dict[str, object] = {}

    def report(phase: str, done: int, total: int) -> None:
        if phase != "embed" or total == 0:
            return
        bar = bars.get(phase)
        if bar is None:
            bar = bars[phase] = click.progressbar(length=total, label="embedding passages", file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)

    def close() -> None:
        for bar in bars.values():
            bar.__exit__(None, None, None)

    return report, close


def print_build_summary(summary: dict, as_json: bool, changes: bool = False) -> None:
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
        return
    click.echo(f"indexed {summary['articles']} articles as {summary['passages']} passages "
               f"into {summary['index_dir']} (generation {summary['generation']}, FAISS {summary['faiss_type']})")
    if changes:
        click.echo(f"changes: {summary['added']} added, {summary['changed']} changed, {summary['removed']} removed,"
                   f" {summary['unchanged']} unchanged")
    click.echo(f"embeddings: {summary['embedded']} computed, {summary['reused']} reused from the cache")
    phases = ", ".join(f"{phase} {seconds:.1f}s" for phase, seconds in summary["seconds"].items())
    click.echo(f"time: {phases}")
    if summary["skipped"]:
        click.echo(f"skipped {len(summary['skipped'])} item(s):")
        for item in summary["skipped"][:50]:
            click.echo(f"  {item['path']}: {item['reason']}")
        if len(summary["skipped"]) > 50:
            click.echo(f"  … and {len(summary['skipped']) - 50} more (see --json)")


@main.command()
@corpus_option
@index_option
@click.option("--model", default=None, help="Embedding model name or local path [env ARCHIVE_MODEL].")
@fields_option
@click.option("--strict", is_flag=True, help="Fail instead of skipping unreadable corpus items.")
@click.option("--wait", is_flag=True, help="Wait for a running build instead of refusing.")
@json_option
def rebuild(corpus, index_dir, model, fields, strict, wait, as_json) -> None:
    """Build both indexes from the whole corpus and switch to them atomically."""
    from archive.build import rebuild as rebuild_index
    from archive.corpus import FieldMapping

    report, close = progress_reporter(not as_json and sys.stderr.isatty())
    try:
        summary = rebuild_index(
            corpus or settings.corpus_path(), index_dir or settings.index_dir(), model or settings.model_name(),
            fields=FieldMapping.parse(fields), strict=strict, wait=wait, progress=report,
        )
    finally:
        close()
    print_build_summary(summary.to_dict(), as_json)


@main.command()
@corpus_option
@index_option
@fields_option
@click.option("--strict", is_flag=True, help="Fail instead of skipping unreadable corpus items.")
@click.option("--wait", is_flag=True, help="Wait for a running build instead of refusing.")
@json_option
def update(corpus, index_dir, fields, strict, wait, as_json) -> None:
    """Apply corpus changes (new, changed, deleted articles) to the live index."""
    from archive.corpus import FieldMapping
    from archive.update import update as update_index

    report, close = progress_reporter(not as_json and sys.stderr.isatty())
    try:
        summary = update_index(corpus or settings.corpus_path(), index_dir or settings.index_dir(),
                               fields=FieldMapping.parse(fields), strict=strict, wait=wait, progress=report)
    finally:
        close()
    print_build_summary(summary.to_dict(), as_json, changes=True)


@main.command()
@corpus_option
@index_option
@fields_option
@click.option("--interval", type=click.FloatRange(min=0.5), default=30.0, show_default=True, help="Seconds between polls.")
@click.option("--polls", type=click.IntRange(min=0), default=0, help="Stop after this many polls (0: run until interrupted).")
def watch(corpus, index_dir, fields, interval, polls) -> None:
    """Poll the corpus and apply changes as they appear (an update per change)."""
    import time

    from archive.corpus import FieldMapping
    from archive.update import update as update_index

    mapping = FieldMapping.parse(fields)
    corpus, index_dir = corpus or settings.corpus_path(), index_dir or settings.index_dir()
    click.echo(f"watching {corpus} every {interval:g}s; Ctrl-C to stop", err=True)
    done = 0
    while True:
        summary = update_index(corpus, index_dir, fields=mapping, wait=True)
        if summary.added or summary.changed or summary.removed:
            click.echo(f"{time.strftime('%H:%M:%S')} generation {summary.generation}: {summary.added} added, "
                       f"{summary.changed} changed, {summary.removed} removed ({summary.embedded} embedded)")
        done += 1
        if polls and done >= polls:
            return
        time.sleep(interval)


@main.command()
@corpus_option
@index_option
@fields_option
@json_option
def status(corpus, index_dir, fields, as_json) -> None:
    """Show what is indexed and how stale it is against the corpus."""
    from archive.corpus import FieldMapping
    from archive.status import index_status

    corpus = corpus or settings.corpus_override()
    report = index_status(index_dir or settings.index_dir(), corpus, FieldMapping.parse(fields))
    if as_json:
        click.echo(json.dumps(report, sort_keys=True))
        return
    click.echo(f"index:      {report['index_dir']} (generation {report['generation']})")
    click.echo(f"built:      {report['built_at']} ({format_age(report['age_seconds'])} ago)")
    click.echo(f"contents:   {report['articles']} articles, {report['passages']} passages")
    click.echo(f"model:      {report['model']} ({report['dimension']} dimensions), FAISS {report['faiss_type']}")
    click.echo(f"corpus:     {report['corpus']}")
    pending = report.get("pending")
    if pending is None:
        click.echo("staleness:  corpus not found; cannot compare")
    elif report["up_to_date"]:
        click.echo(f"staleness:  up to date ({pending['unchanged']} articles unchanged)")
    else:
        click.echo(f"staleness:  {pending['new']} new, {pending['changed']} changed, {pending['deleted']} deleted"
                   " — run `indexer update` (or `indexer rebuild`)")


def format_age(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@main.command()
@click.argument("query")
@index_option
@click.option("--mode", type=MODE_CHOICES, default="hybrid", show_default=True)
@click.option("-k", "k", type=int, default=10, show_default=True, help="Results per page (at most 100).")
@click.option("--page", type=int, default=1, show_default=True)
@click.option("--alpha", type=float, default=None, help="Hybrid: weight of meaning, 0-1 (convex fusion).")
@click.option("--from", "date_from", default=None, help="Earliest date, YYYY-MM-DD.")
@click.option("--to", "date_to", default=None, help="Latest date, YYYY-MM-DD.")
@click.option("--source", default=None, help="Only articles from this source.")
@click.option("--sort", type=click.Choice(["relevance", "date"]), default="relevance", show_default=True)
@json_option
def search(query, index_dir, mode, k, page, alpha, date_from, date_to, source, sort, as_json) -> None:
    """Search the archive and print the best articles with their evidence."""
    from archive import Archive

    archive = Archive.open(index_dir or settings.index_dir())
    response = archive.search(query, mode=mode, k=k, page=page, alpha=alpha, date_from=date_from,
                              date_to=date_to, source=source, sort=sort)
    if as_json:
        click.echo(json.dumps(response.to_dict(), ensure_ascii=False))
        return
    print_search_response(response.to_dict(), color=sys.stdout.isatty())


def print_search_response(response: dict, color: bool) -> None:
    import html
    import re

    def terminal_marks(fragment: str) -> str:
        # Keyword marks never contain other marks, so they go first; sentence marks then close cleanly.
        fragment = re.sub(r"<mark>(.*?)</mark>", lambda m: click.style(m[1], bold=True, fg="yellow")
                          if color else f"[{m[1]}]", fragment, flags=re.S)
        fragment = re.sub(r'<mark class="semantic">(.*?)</mark>', lambda m: click.style(m[1], underline=True)
                          if color else f"⟨{m[1]}⟩", fragment, flags=re.S)
        return html.unescape(fragment)

    if response["note"]:
        click.echo(f"note: {response['note']}")
    if response["suggestion"]:
        click.echo(f"did you mean: {response['suggestion']}")
    first = (response["page"] - 1) * response["k"] + 1
    click.echo(f"{response['total']} articles in the candidate pool; page {response['page']}"
               f" ({response['mode']}, {response['took_ms']:.0f} ms)")
    if not response["results"]:
        click.echo("no results")
    for position, result in enumerate(response["results"], start=first):
        why = " · ".join(f"{'meaning' if leg == 'semantic' else leg} #{evidence['rank']}"
                         for leg, evidence in result["explain"].items() if evidence)
        meta = " · ".join(part for part in (result["date"], result["source"]) if part)
        click.echo(f"\n{position}. {click.style(result['title'], bold=True) if color else result['title']}")
        click.echo(f"   {result['id']}{' · ' + meta if meta else ''} · score {result['score']:.4f} · {why}")
        for passage in result["passages"]:
            click.echo(f"   [{passage['start']}-{passage['end']}] {terminal_marks(excerpt(passage['html']))}")


EXCERPT_CHARACTERS = 360


def excerpt(fragment: str) -> str:
    """About EXCERPT_CHARACTERS of a highlighted passage, starting a little before its first mark."""
    fragment = " ".join(fragment.split())
    first = fragment.find("<mark")
    start = 0 if first < 120 else fragment.rfind(" ", 0, first - 80) + 1
    # Do not cut inside a mark or an entity: move the end past any open tag.
    end = start + EXCERPT_CHARACTERS + (first - start if first > start else 0) // 4
    end = fragment.find(" ", end) if fragment.find(" ", end) != -1 else len(fragment)
    piece = fragment[start:end]
    opened = piece.count("<mark") - piece.count("</mark>")
    piece += "</mark>" * max(opened, 0)
    return ("…" if start else "") + piece + ("…" if end < len(fragment) else "")
