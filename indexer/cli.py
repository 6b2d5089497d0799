"""The ``indexer`` command: parses options, calls the archive library, prints results.

Every ``ArchiveError`` becomes one ``error:`` line plus a ``hint:`` line on stderr and a
non-zero exit code; no traceback reaches the user. The search options are derived from
``SearchRequest``, which owns their defaults, choices and limits.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

import click

import archive
from archive import ArchiveError, CoverageRequest, SearchRequest, settings

EXIT_BROKEN_PIPE = 141  # what a shell reports for a program ended by SIGPIPE, as `yes | head` does


class ArchiveGroup(click.Group):
    """Translates library errors into a message, a hint and an exit code, once, here."""

    def invoke(self, context: click.Context):
        try:
            return super().invoke(context)
        except ArchiveError as problem:
            print_error(problem)
            context.exit(problem.exit_code)
        except BrokenPipeError:
            # The reader went away (`indexer search … | head`): normal for a CLI, so stop
            # quietly. Point stdout at /dev/null so that flushing it at exit cannot fail again.
            with contextlib.suppress(OSError, ValueError):  # not a real file (a test runner's capture)
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            context.exit(EXIT_BROKEN_PIPE)
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


def print_error(problem: ArchiveError) -> None:
    click.echo(f"error: {problem.message}", err=True)
    if problem.hint:
        click.echo(f"hint: {problem.hint}", err=True)


def corpus_option(function):
    return click.option(
        "--corpus", type=click.Path(path_type=Path), default=None,
        help="Folder or file of articles: text, HTML, JSON(L), WARC crawls, RSS/Atom feeds "
             "[env ARCHIVE_CORPUS; default corpus/].",
    )(function)


def index_option(function):
    return click.option(
        "--index", "index_dir", type=click.Path(path_type=Path), default=None,
        help="Index directory [env ARCHIVE_INDEX_DIR; default var/index/].",
    )(function)


def backend_options(function):
    function = click.option(
        "--milvus-uri", default=None,
        help="Where the Milvus backend keeps the archive: a Milvus Lite file (var/archive.db) or a server (http://host:19530) "
             "[env ARCHIVE_MILVUS_URI].",
    )(function)
    return click.option(
        "--backend", type=click.Choice(archive.BACKENDS), default=None,
        help="Where the archive is stored: embedded (Whoosh, FAISS and SQLite in --index) or milvus "
             "(--milvus-uri; --index keeps only the embedding cache) [env ARCHIVE_BACKEND; default embedded].",
    )(function)


def chosen_backend(backend: str | None, index_dir: Path | None, milvus_uri: str | None):
    """The backend asked for; ``--milvus-uri`` alone means the Milvus backend."""
    backend = backend or ("milvus" if milvus_uri else settings.backend())
    return archive.open_backend(backend, index_dir or settings.index_dir(), milvus_uri or settings.milvus_uri(),
                                settings.milvus_access() if backend == "milvus" else None)


def vector_kind(kind: str) -> str:
    return "Milvus FLAT" if kind.startswith("milvus") else f"FAISS {kind}"


def follow_links_option(function):
    return click.option(
        "--follow-links", is_flag=True, envvar="ARCHIVE_FOLLOW_LINKS",
        help="Also read file symlinks that point outside the corpus folder (skipped by default) "
             "[env ARCHIVE_FOLLOW_LINKS].",
    )(function)


def fields_option(function):
    return click.option(
        "--fields", default=None, envvar="ARCHIVE_FIELDS",
        help="JSON field mapping, e.g. 'title=headline,body=content|text' [env ARCHIVE_FIELDS].",
    )(function)


def precision_option(function):
    return click.option(
        "--precision", type=click.Choice(archive.PRECISIONS), default=None,
        help="Embedding precision: bf16 where the CPU has it and it is faster (auto), or fp32 or bf16 "
             "[env ARCHIVE_EMBED_PRECISION; default auto]. An update keeps the index's precision.",
    )(function)


def cluster_option(function):
    return click.option(
        "--cluster", default=None, envvar="ARCHIVE_CLUSTER",
        help="Embed on a Dask cluster: local:N (N single-threaded worker processes here) or a scheduler's "
             "address, tcp://host:8786 [env ARCHIVE_CLUSTER]. Needs the cluster extra.",
    )(function)


def json_option(function):
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")(function)


CLICK_TYPES = {int: int, float: float, str: str}


def search_options(function):
    """The QUERY argument and one option per search parameter, from ``SearchRequest``."""
    for spec in reversed(SearchRequest.parameters()):
        if not spec.flags:
            function = click.argument(spec.name)(function)
            continue
        kind = click.Choice(spec.choices) if spec.choices else CLICK_TYPES[spec.kind]
        function = click.option(*spec.flags, spec.name, type=kind, default=spec.default,
                                show_default=spec.default is not None, help=spec.description)(function)
    return function


@click.group(cls=ArchiveGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="news-archive")
def main() -> None:
    """Build and query the news archive's keyword and vector indexes."""


def progress_reporter(enabled: bool):
    """A progress bar on a terminal; silence otherwise (and with --json)."""
    if not enabled:
        return None, lambda: None

    labels = {"crawl": "reading WARC records", "embed": "embedding passages"}
    open_bars: dict[str, object] = {}  # one bar at a time: a new phase ends the one before

    def report(phase: str, done: int, total: int) -> None:
        if phase not in labels or total == 0:
            return
        bar = open_bars.get(phase)
        if bar is None:
            close()
            bar = open_bars[phase] = click.progressbar(length=total, label=labels[phase], file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)

    def close() -> None:
        while open_bars:
            open_bars.popitem()[1].__exit__(None, None, None)

    return report, close


def print_build_summary(summary: dict, as_json: bool, changes: bool = False) -> None:
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
        return
    stories = f"{summary['stories']} stor{'y' if summary['stories'] == 1 else 'ies'}"
    click.echo(f"indexed {summary['articles']} articles ({stories}) as {summary['passages']} passages "
               f"into {summary['location']} (generation {summary['generation']}, {vector_kind(summary['vector_index'])})")
    if changes:
        click.echo(f"changes: {summary['added']} added, {summary['changed']} changed, {summary['removed']} removed,"
                   f" {summary['unchanged']} unchanged")
    click.echo(f"embeddings: {summary['embedded']} computed, {summary['reused']} reused from the cache; "
               f"{summary['precision']} ({summary['precision_reason']})")
    for kind, counts in summary.get("records", {}).items():
        label = "crawl records" if kind == "crawl" else "feed entries"
        passed_over = ", ".join(f"{count} {reason}" for reason, count in counts["skipped"].items())
        click.echo(f"{label}: {counts['read']} read, {counts['kept']} kept as articles"
                   + (f"; passed over: {passed_over}" if passed_over else ""))
    if summary.get("cluster"):
        cluster = summary["cluster"]
        click.echo(f"cluster: {cluster['address']}, {cluster['workers']} worker{'s' if cluster['workers'] != 1 else ''}; "
                   f"{cluster['read_partitions']} partition{'s' if cluster['read_partitions'] != 1 else ''} of files read, "
                   f"{cluster['partitions']} of passages embedded"
                   + (f"; {cluster['read_here']} files the workers could not see read here" if cluster['read_here'] else ""))
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
@precision_option
@follow_links_option
@cluster_option
@backend_options
@json_option
def rebuild(corpus, index_dir, model, fields, strict, wait, precision, follow_links, cluster, backend, milvus_uri,
            as_json) -> None:
    """Build both indexes from the whole corpus and switch to them atomically."""
    chosen = chosen_backend(backend, index_dir, milvus_uri)
    report, close = progress_reporter(not as_json and sys.stderr.isatty())
    try:
        summary = chosen.rebuild(
            corpus or settings.corpus_path(), model or settings.model_name(),
            fields=archive.FieldMapping.parse(fields), strict=strict, wait=wait, progress=report,
            precision=precision or settings.embed_precision(), follow_links=follow_links, cluster=cluster or None,
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
@precision_option
@follow_links_option
@cluster_option
@backend_options
@json_option
def update(corpus, index_dir, fields, strict, wait, precision, follow_links, cluster, backend, milvus_uri,
           as_json) -> None:
    """Apply corpus changes (new, changed, deleted articles) to the live index."""
    chosen = chosen_backend(backend, index_dir, milvus_uri)
    report, close = progress_reporter(not as_json and sys.stderr.isatty())
    try:
        summary = chosen.update(corpus or settings.corpus_path(), fields=archive.FieldMapping.parse(fields),
                                strict=strict, wait=wait, progress=report, precision=precision or settings.embed_precision(),
                                follow_links=follow_links, cluster=cluster or None)
    finally:
        close()
    print_build_summary(summary.to_dict(), as_json, changes=True)


@main.command()
@corpus_option
@index_option
@fields_option
@click.option("--interval", type=click.FloatRange(min=0.5), default=30.0, show_default=True, help="Seconds between polls.")
@click.option("--polls", type=click.IntRange(min=0), default=0, help="Stop after this many polls (0: run until interrupted).")
@follow_links_option
@backend_options
def watch(corpus, index_dir, fields, interval, polls, follow_links, backend, milvus_uri) -> None:
    """Poll the corpus and apply changes as they appear (an update per change)."""
    import time

    mapping = archive.FieldMapping.parse(fields)
    chosen = chosen_backend(backend, index_dir, milvus_uri)
    corpus = corpus or settings.corpus_path()
    click.echo(f"watching {corpus} every {interval:g}s; Ctrl-C to stop", err=True)
    done = 0
    while True:
        summary = chosen.update(corpus, fields=mapping, wait=True, follow_links=follow_links)
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
@follow_links_option
@backend_options
@json_option
def status(corpus, index_dir, fields, follow_links, backend, milvus_uri, as_json) -> None:
    """Show what is indexed and how stale it is against the corpus."""
    corpus = corpus or settings.corpus_override()
    report = chosen_backend(backend, index_dir, milvus_uri).status(corpus, archive.FieldMapping.parse(fields),
                                                                   follow_links)
    if as_json:
        click.echo(json.dumps(report, sort_keys=True))
        return
    click.echo(f"index:      {report['location']} ({report['backend']} backend, generation {report['generation']})")
    click.echo(f"built:      {report['built_at']} ({format_age(report['age_seconds'])} ago)")
    click.echo(f"contents:   {report['articles']} articles in {report['stories']} stor"
               f"{'y' if report['stories'] == 1 else 'ies'}, {report['passages']} passages")
    click.echo(f"model:      {report['model']} ({report['dimension']} dimensions), {vector_kind(report['vector_index'])}")
    click.echo(f"vectors:    {report['precision']} ({report['precision_reason']})")
    encoder = report["query_encoder"]
    click.echo(f"queries:    embedded with {encoder['backend']} ({encoder['reason']})")
    click.echo(f"corpus:     {report['corpus']}")
    pending = report.get("pending")
    if pending is None and report.get("integrity", {}).get("problems"):
        click.echo("staleness:  not compared (the generation is damaged)")
    elif pending is None:
        click.echo("staleness:  corpus not found; cannot compare")
    elif report["up_to_date"]:
        click.echo(f"staleness:  up to date ({pending['unchanged']} articles unchanged)")
    else:
        click.echo(f"staleness:  {pending['new']} new, {pending['changed']} changed, {pending['deleted']} deleted"
                   " — run `indexer update` (or `indexer rebuild`)")
    integrity = report.get("integrity")
    if integrity is not None:
        click.echo(f"integrity:  {integrity_line(integrity)}")
        if integrity["problems"]:
            raise archive.IndexCorruptError(f"generation {integrity['generation']} is damaged: "
                                            f"{integrity['problems'][0]}")


def integrity_line(report: dict) -> str:
    if report["problems"]:
        return f"DAMAGED: {report['problems'][0]}" + (f" (and {len(report['problems']) - 1} more)"
                                                      if len(report["problems"]) > 1 else "")
    if report.get("note"):
        return f"not checked: {report['note']}"
    if not report["recorded"]:
        return "no checksums recorded (built before they were); `indexer rebuild` records them"
    if report["files"]:
        return f"{report['files']} files sound, checked {report['checked']} (`indexer verify --full` reads every byte)"
    return f"sound ({report['checked']})"


@main.command()
@index_option
@click.option("--full", is_flag=True, help="Read every byte of every file, and run the store's own integrity check.")
@backend_options
@json_option
def verify(index_dir, full, backend, milvus_uri, as_json) -> None:
    """Check the live generation against its recorded sizes and checksums (exit 3 if damaged)."""
    report = chosen_backend(backend, index_dir, milvus_uri).verify(full)
    if as_json:
        click.echo(json.dumps(report, sort_keys=True))
    else:
        click.echo(f"generation {report['generation']}: {integrity_line(report)}")
        for problem in report["problems"][1:]:
            click.echo(f"  also: {problem}")
    if report["problems"]:
        raise archive.IndexCorruptError(f"generation {report['generation']} is damaged: {report['problems'][0]}")


def format_age(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@main.command()
@search_options
@index_option
@backend_options
@json_option
@click.option("--format", "output_format", type=click.Choice(["text", "json", "atom"]), default="text",
              show_default=True, help="text for people, json (as --json), or atom: the newest 100 results as an "
                                      "Atom feed, every version unless --collapse story (k, page and sort do not "
                                      "apply), for a cron job to follow a search with --from.")
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True,
              help="With --format atom: where the site runs, for the feed's links.")
def search(index_dir, backend, milvus_uri, as_json, output_format, base_url, **parameters) -> None:
    """Search the archive and print the best articles with their evidence."""
    context = click.get_current_context()
    if output_format == "atom" and context.get_parameter_source("collapse") is click.core.ParameterSource.DEFAULT:
        parameters["collapse"] = "none"  # a feed has every version, unless asked otherwise
    request = SearchRequest(**parameters)
    chosen = chosen_backend(backend, index_dir, milvus_uri)
    opened = archive.Archive.open(chosen, query_budget_ms=settings.query_budget_ms())
    if output_format == "atom":
        click.echo(archive.atom_document(opened.search_feed(request), feed_addresses(base_url, request)), nl=False)
        return
    response = opened.search(request)
    if as_json or output_format == "json":
        click.echo(json.dumps(response.to_dict(), ensure_ascii=False))
        return
    print_search_response(response, color=sys.stdout.isatty())


# How marks look on a terminal: with colour, or with brackets when output is plain text.
MARK_STYLES = {"keyword": {"bold": True, "fg": "yellow"}, "variant": {"bold": True, "fg": "magenta"},
               "semantic": {"underline": True}}
MARK_BRACKETS = {"keyword": ("[", "]"), "variant": ("[≈", "]"), "semantic": ("⟨", "⟩")}


def styled(snippet: archive.Snippet, color: bool) -> str:
    """The snippet's text with its marks as terminal styles (or brackets)."""
    pieces: list[str] = ["…" if snippet.cut_before else ""]
    open_kinds: list[str] = []
    for event in archive.events(snippet.text, snippet.marks):
        if event.opens:
            open_kinds.append(event.opens)
            if not color:
                pieces.append(MARK_BRACKETS.get(event.opens, ("", ""))[0])
        elif event.closes:
            kind = open_kinds.pop()
            if not color:
                pieces.append(MARK_BRACKETS.get(kind, ("", ""))[1])
        elif color and open_kinds:
            style: dict = {}
            for kind in open_kinds:
                style.update(MARK_STYLES.get(kind, {}))
            pieces.append(click.style(event.text, **style))
        else:
            pieces.append(event.text)
    pieces.append("…" if snippet.cut_after else "")
    return "".join(pieces)


def print_search_response(response: archive.SearchResponse, color: bool) -> None:
    if response.note:
        click.echo(f"note: {response.note}")
    if response.timed_out:
        click.echo("note: the search reached its time budget (ARCHIVE_QUERY_BUDGET_MS) and shows what it had "
                   "found by then")
    if response.suggestion:
        click.echo(f"did you mean: {response.suggestion}")
    first = (response.page - 1) * response.k + 1
    counted = ("story" if response.total == 1 else "stories") if response.collapse == "story" else "articles"
    click.echo(f"{response.total} {counted} in the candidate pool; page {response.page}"
               f" ({response.mode}, {response.took_ms:.0f} ms)")
    if response.matching is not None:
        click.echo(f"the words match {matching_phrase(response.matching.articles, response.matching.stories)}"
                   " in the archive (indexer coverage counts them over time)")
    if not response.results:
        click.echo("no results")
    for position, result in enumerate(response.results, start=first):
        why = " · ".join(f"{'meaning' if leg == 'semantic' else leg} #{evidence.rank}"
                         + (f" ({', '.join(evidence.variants)})" if evidence.variants else "")
                         for leg, evidence in result.explain.items() if evidence)
        date = f"crawled {result.date}" if result.date and result.date_kind == "crawled" else result.date
        meta = " · ".join(part for part in (date, result.source) if part)
        click.echo(f"\n{position}. {click.style(result.title, bold=True) if color else result.title}")
        click.echo(f"   {result.id}{' · ' + meta if meta else ''} · score {result.score:.4f} · {why}")
        for passage in result.passages:
            click.echo(f"   [{passage.start}-{passage.end}] {styled(archive.window(passage.text, passage.marks), color)}")
        if result.story and result.story.others:
            click.echo(f"   + {len(result.story.others)} other version{'s' if len(result.story.others) != 1 else ''}"
                       f" of this story (story {result.story.id}, {result.story.size} articles):")
            for version in result.story.others:
                meta = " · ".join(part for part in (version.date, version.source) if part)
                click.echo(f"     {version.id} · {version.title}{' · ' + meta if meta else ''}")


def feed_addresses(base_url: str, request: SearchRequest) -> archive.FeedAddresses:
    """The site's addresses under ``base_url``, as the site itself would give them."""
    from urllib.parse import quote, urlencode

    base = base_url.rstrip("/")
    given = {"q": request.query, "mode": request.mode, "date_from": request.date_from, "date_to": request.date_to,
             "source": request.source, "collapse": request.collapse}
    query = urlencode({key: value for key, value in given.items() if value})
    return archive.FeedAddresses(
        self_url=f"{base}/search.atom?{query}", page_url=f"{base}/search?{query}",
        article_url=lambda article_id: f"{base}/articles/{quote(article_id)}",
        story_feed_url=lambda story: f"{base}/stories/{quote(story)}.atom")


def matching_phrase(articles: int, stories: int) -> str:
    """"44 articles (12 stories)"."""
    return (f"{articles:,} article{'s' if articles != 1 else ''} "
            f"({stories:,} stor{'ies' if stories != 1 else 'y'})")


def coverage_options(function):
    """QUERY… and one option per coverage parameter, from ``CoverageRequest``."""
    for spec in reversed(CoverageRequest.parameters()):
        if not spec.flags:
            function = click.argument("queries", nargs=-1, required=True, metavar="QUERY...")(function)
            continue
        kind = click.Choice(spec.choices) if spec.choices else CLICK_TYPES[spec.kind]
        function = click.option(*spec.flags, spec.name, type=kind, default=spec.default,
                                show_default=spec.default is not None, help=spec.description)(function)
    return function


SPARKS = " ▁▂▃▄▅▆▇█"


def sparkline(values: list[float | None]) -> str:
    """One character a bucket, as high as its value against the largest (blank: no value)."""
    top = max((value for value in values if value is not None), default=0) or 1
    return "".join(" " if value is None else SPARKS[max(1 if value > 0 else 0, round(value / top * 8))]
                   for value in values)


def print_coverage(response: archive.CoverageResponse, share: bool, chart: bool) -> None:
    archive_size = response.archive["articles"]
    click.echo(f"out of {archive_size:,} article{'s' if archive_size != 1 else ''} in the archive"
               f"{' within the filters' if any(response.filters.values()) else ''}; by {response.interval}"
               f" ({response.took_ms:.0f} ms)")
    for query in response.queries:
        click.echo(f"\n{query.query}" + (f"  (searched as: {query.understood})" if query.understood
                                         and query.understood != query.query else ""))
        if query.note:
            click.echo(f"  note: {query.note}")
        if query.articles is None:
            click.echo("  timed_out: the time budget ran out before the count was made" if query.timed_out
                       else "  not counted: no words to match")
            continue
        within = " within the filters" if any(response.filters.values()) else ""
        click.echo(f"  {matching_phrase(query.articles, query.stories)}, "
                   f"{(query.share or 0) * 100:.3g}% of the archive{within}")
        if chart and query.over_time:
            values = [bucket["share" if share else "articles"] for bucket in query.over_time]
            click.echo(f"  {query.over_time[0]['key']} {sparkline(values)} {query.over_time[-1]['key']}")
    counted = [query for query in response.queries if query.over_time is not None]
    if not counted:
        return
    buckets = response.buckets
    width = max([len(bucket["key"]) for bucket in buckets] + [len("undated"), len(response.interval)])
    header = f"\n{response.interval:<{width}}  {'all':>8}" + "".join(
        f"  {shorten(query.query, 14):>14}" for query in counted)
    click.echo(header)
    for index, bucket in enumerate(buckets):
        cells = []
        for query in counted:
            cell = query.over_time[index]
            cells.append("–" if share and cell["share"] is None else
                         f"{cell['share'] * 100:.3g}%" if share else f"{cell['articles']:,}")
        click.echo(f"{bucket['key']:<{width}}  {bucket['all']:>8,}" + "".join(f"  {cell:>14}" for cell in cells))
    undated = counted[0].undated or {}  # (also when nothing is dated: then it is the whole table)
    if undated.get("all"):
        cells = [f"{query.undated['articles'] / query.undated['all'] * 100:.3g}%" if share
                 else f"{query.undated['articles']:,}" for query in counted]
        click.echo(f"{'undated':<{width}}  {undated['all']:>8,}" + "".join(f"  {cell:>14}" for cell in cells))


def writable(path: Path):
    """``path`` opened for writing; a file that cannot be is the user's to fix, said as such."""
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as problem:
        raise click.FileError(str(path), hint=problem.strerror or str(problem)) from None


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def refuse_damaged_index(backend, in_child: bool) -> str | None:
    """A damaged index stops the server at start-up, saying once what is damaged and what to do
    (each worker would otherwise fail to open it, be started again, and fail again). With
    workers to fork, it is opened in a child process, so that nothing it opens is shared with
    them. The live generation's model (None: no index yet, or its backend is not reachable)."""
    def check() -> str | None:
        try:
            opened = archive.Archive.open(backend)
        except (archive.IndexNotFoundError, archive.BackendUnavailableError):
            return None  # served all the same: the site says how to build the index, or waits for the backend
        try:
            return opened.current().snapshot.manifest.model
        finally:
            opened.close()

    if not in_child:
        return check()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        code = 0
        try:
            os.write(writer, (check() or "").encode())
        except ArchiveError as problem:
            print_error(problem)
            code = problem.exit_code
        except BaseException as problem:
            click.echo(f"error: unexpected {type(problem).__name__}: {problem}", err=True)
            code = 70
        finally:
            os._exit(code)
    os.close(writer)
    with os.fdopen(reader, "rb") as answer:
        model = answer.read().decode()
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code:
        click.get_current_context().exit(code if code > 0 else 70)  # (killed by a signal: not the index's fault)
    return model or None


@main.command()
@index_option
@backend_options
@coverage_options
@click.option("--share", is_flag=True, help="Show each bucket's share of all articles instead of counts.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the CSV: a row per bucket, per query its matching "
                                                    "articles, stories, all articles and share.")
@json_option
def coverage(index_dir, backend, milvus_uri, share, as_csv, as_json, **parameters) -> None:
    """How much coverage the words of each QUERY have (up to five): every matching article
    in the archive, over time and as a share of all, not a ranked list."""
    if as_csv and as_json:
        raise archive.InvalidParameterError("choose one of --csv and --json")
    request = CoverageRequest(**parameters)
    chosen = chosen_backend(backend, index_dir, milvus_uri)
    response = archive.Archive.open(chosen, query_budget_ms=settings.query_budget_ms()).coverage(request)
    if as_json:
        click.echo(json.dumps(response.to_dict(), ensure_ascii=False))
    elif as_csv:
        click.echo(archive.coverage_csv(response), nl=False)
    else:
        print_coverage(response, share, chart=sys.stdout.isatty())
    if response.timed_out():
        click.get_current_context().exit(archive.OutOfTimeError.exit_code)


@main.command()
@index_option
@backend_options
@click.argument("query")
@click.option("--words", type=click.Choice(archive.WORDS), default="any", show_default=True,
              help=CoverageRequest.parameter("words").description)
@click.option("--from", "date_from", default=None, help=CoverageRequest.parameter("date_from").description)
@click.option("--to", "date_to", default=None, help=CoverageRequest.parameter("date_to").description)
@click.option("--source", default=None, help=CoverageRequest.parameter("source").description)
@click.option("--format", "format", type=click.Choice(archive.EXPORT_FORMATS), default="csv", show_default=True,
              help="CSV (with a header) or JSON Lines.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of standard output.")
def export(index_dir, backend, milvus_uri, query, words, date_from, date_to, source, format, output) -> None:
    """Every article QUERY's words match, oldest first (undated last): id, date, source,
    title, url and story id. No limit: rows are read and written a batch at a time."""
    request = CoverageRequest((query,), words=words, date_from=date_from, date_to=date_to, source=source)
    chosen = chosen_backend(backend, index_dir, milvus_uri)
    found = archive.Archive.open(chosen, query_budget_ms=settings.query_budget_ms()).export(request)
    with found, (writable(output) if output else contextlib.nullcontext(sys.stdout)) as target:
        for line in archive.export_lines(iter(found), format):
            target.write(line)
    if output:
        click.echo(f"wrote {found.articles:,} article{'s' if found.articles != 1 else ''} to {output}", err=True)


@main.command()
@index_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--threads", type=click.IntRange(min=1), default=8, show_default=True, help="Threads per worker process.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes sharing the port [default: one per CPU core; one on Milvus Lite].")
@backend_options
def serve(index_dir, host, port, threads, workers, backend, milvus_uri) -> None:
    """Serve the web site and JSON API with waitress (a production WSGI server)."""
    import logging

    from web import create_app, server, state

    # The app reads its settings from ARCHIVE_* variables.
    for name, value in (("ARCHIVE_INDEX_DIR", index_dir), ("ARCHIVE_BACKEND", backend), ("ARCHIVE_MILVUS_URI", milvus_uri)):
        if value is not None:
            os.environ[name] = str(value)
    index = chosen_backend(backend, index_dir, milvus_uri)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if index.single_process:
        if workers and workers > 1:
            click.echo("note: a Milvus Lite database opens in one process only: serving with one worker", err=True)
        workers = 1
    workers = workers or os.cpu_count() or 1
    # Each worker embeds queries on its share of the cores; more threads would only contend.
    os.environ.setdefault("ARCHIVE_QUERY_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))

    def announce(address: str, count: int) -> None:
        click.echo(f"Serving the news archive at {address} (index {index}, {count} worker"
                   f"{'s' if count != 1 else ''} × {threads} threads)")

    create_app()  # a wrong ARCHIVE_* setting is reported here, once, not by every worker it would stop
    model = refuse_damaged_index(index, in_child=workers > 1)
    if workers > 1:
        # The libraries every worker loads, and their query encoder when each embeds on one
        # thread, loaded once: forked workers share their pages.
        one_thread = settings.whole_number("ARCHIVE_QUERY_THREADS", os.environ["ARCHIVE_QUERY_THREADS"], 1) == 1
        if state.preload(index.work_dir, model if one_thread else None):
            click.echo(f"The query encoder of {model} is opened once and shared by the workers", err=True)
    server.serve(create_app, state.warm_up, host, port, threads, workers, announce)
