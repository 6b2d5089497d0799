"""Web crawls: WARC files (ISO 28500), plain or gzipped, read with warcio as a stream.

Each ``response`` record with HTTP status 200 and an HTML payload is a candidate article;
trafilatura extracts its main text, title, date, author and site name. Everything else is
counted by reason (see ``RecordCounts``). Damage (a truncated or corrupt gzip member, a record
cut short) keeps every article before it and reports the rest of the file as unread.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import BadArticleError
from .articles import Article
from .extraction import article_from_page, extract_page
from .links import article_id_from_url, host_of
from .metadata import parse_date
from .records import RecordCounts, Skipped

HTML_TYPES = {"text/html", "application/xhtml+xml"}
MAX_PAGE_BYTES = 5 * 1024 * 1024  # larger payloads are counted as too large, not read
MIN_WORDS = 30  # a page with less main text than this is navigation, an error page or a stub
PROGRESS_EVERY = 64  # records between progress reports

Progress = Callable[[int], None]  # bytes of the file read so far


class CrawlDamage(Exception):
    """``in_previous``: the damage is in the record already handed out (found cut short once
    read past); otherwise in one not yet handed out, or in the current one while it is read."""

    def __init__(self, offset: int, message: str, in_previous: bool = False) -> None:
        super().__init__(message)
        self.offset, self.message, self.in_previous = offset, message, in_previous


class PayloadsSeen:
    """Payload digests of the pages kept so far, across every crawl of one reading: a payload
    repeated in another crawl (the same page under another URL) is passed over, and that
    crawl noted as holding a copy of the article (for updates; see ``CorpusReading.copies``)."""

    def __init__(self) -> None:
        self.articles: dict[str, tuple[str, str]] = {}  # digest -> (article id, file)
        self.copies: dict[str, set[str]] = {}  # file -> article ids whose payload it repeats

    def check(self, digest: str, relative: str) -> None:
        if digest in self.articles:
            article_id, first_file = self.articles[digest]
            if first_file != relative:
                self.copies.setdefault(relative, set()).add(article_id)
            raise BadArticleError("same payload as an earlier record")

    def add(self, digest: str, article_id: str, relative: str) -> None:
        self.articles[digest] = (article_id, relative)


def read_crawl(path: Path, relative: str, counts: RecordCounts, progress: Progress | None = None,
               payloads: PayloadsSeen | None = None) -> tuple[list[Article], list[Skipped]]:
    """The crawl's articles, and a ``Skipped`` only for damage. ``counts`` gains every record
    (read = kept + skipped). ``payloads``: shared by the crawls of one reading."""
    articles: list[Article] = []
    seen_ids: set[str] = set()
    payloads = payloads if payloads is not None else PayloadsSeen()
    reason: str | None = None  # what the last record was passed over as (None: kept)
    open_record = False  # the current record is counted as read, but not yet as kept or passed over
    with open(path, "rb") as stream:
        try:
            for offset, record in records_of(stream, progress):
                counts.read += 1
                open_record, reason = True, None
                try:
                    article = article_from_record(record, relative, offset, seen_ids, payloads)
                except BadArticleError as problem:
                    reason = problem.message
                    counts.skip(reason)
                    open_record = False
                    continue
                open_record = False
                counts.kept += 1
                articles.append(article)
        except CrawlDamage as damage:
            if damage.in_previous and not open_record and reason is not None:
                counts.skipped[reason] -= 1  # it was passed over for its reason; it counts as damaged now
                if counts.skipped[reason] <= 0:
                    del counts.skipped[reason]
            elif not open_record:
                counts.read += 1  # damage where no record could be read: it counts as one
            counts.skip("damaged: rest of file unread")
            return articles, [Skipped(relative, f"damaged at byte {damage.offset}: {damage.message}; "
                                                f"{len(articles)} article(s) before it kept, the rest unread")]
    return articles, []


MAX_LINE_BYTES = 64 * 1024  # a WARC or HTTP header line; past it, the file is damaged from there on


class LineTooLong(ValueError):
    """A header line past ``MAX_LINE_BYTES``: damage, from the record it is in."""


@functools.cache
def line_capped_reader() -> type:
    """warcio's reader, with header lines read in linear time and at most ``MAX_LINE_BYTES``
    long: warcio joins a line's pieces one by one (quadratic), so a crawl that was one long line
    stalled the build."""
    from warcio.bufferedreaders import DecompressingBufferedReader

    class Reader(DecompressingBufferedReader):
        def readline(self, length=None):
            cap = MAX_LINE_BYTES if not length or length > MAX_LINE_BYTES else length
            pieces, total = [], 0
            while total < cap:
                self._fillbuff()
                if self.empty():
                    break
                piece = self.buff.readline(cap - total)
                pieces.append(piece)
                total += len(piece)
                if piece.endswith(b"\n"):
                    break
            line = b"".join(pieces)
            if total >= cap and cap == MAX_LINE_BYTES and not line.endswith(b"\n"):
                raise LineTooLong(f"a header line longer than {MAX_LINE_BYTES // 1024} kB")
            return line

    return Reader


def records_of(stream, progress: Progress | None) -> Iterator[tuple[int, object]]:
    """(offset, record) of each WARC record; damage raises ``CrawlDamage``."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    iterator = ArchiveIterator(stream)
    iterator.reader = line_capped_reader()(iterator.fh, block_size=iterator.reader.block_size)
    previous, offset, count = None, 0, 0
    while True:
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # warcio prints its warnings; damage is ours to report
                record = next(iterator, None)  # reads the previous record to its end first
        except LineTooLong as problem:
            raise CrawlDamage(offset if previous is None else iterator.offset, str(problem)) from None
        except (ArchiveLoadFailed, zlib.error, EOFError, OSError, ValueError) as problem:
            raise CrawlDamage(stream_position(stream, offset), first_line(problem)) from None
        if previous is not None and cut_short(previous):
            url = previous.rec_headers.get_header("WARC-Target-URI") or "a record"
            raise CrawlDamage(offset, f"the record for {url} is cut short", in_previous=True)
        if record is None:
            return
        if iterator.known_format != "warc":
            raise BadArticleError("not a WARC file (no WARC/1.x record at its start)")
        previous, offset = record, iterator.offset  # where this record starts (get_record_offset would read it)
        yield offset, record
        count += 1
        if progress and count % PROGRESS_EVERY == 0:
            progress(stream_position(stream, offset))


def article_from_record(record, relative: str, offset: int, seen_ids: set[str], payloads: PayloadsSeen) -> Article:
    """The record's article, or BadArticleError with the reason it is passed over (a count)."""
    kind = record.rec_type
    if kind == "revisit":
        raise BadArticleError("revisit record")
    if kind != "response":
        raise BadArticleError(f"{short(kind or 'untyped')} record")
    url = record.rec_headers.get_header("WARC-Target-URI") or ""
    headers = record.http_headers
    status = headers.get_statuscode() if headers is not None else None
    # warcio reads any first line as a status line; a payload with no HTTP head is no response
    if headers is None or not (headers.protocol or "").upper().startswith("HTTP/") or not (status or "").isdigit():
        raise BadArticleError("no HTTP response")
    if status != "200":
        raise BadArticleError(f"HTTP status {status}")
    media_type = (headers.get_header("Content-Type") or "").split(";")[0].strip().lower()
    if media_type not in HTML_TYPES:
        raise BadArticleError(f"not HTML ({short(media_type) or 'no content type'})")
    article_id = article_id_from_url(url)
    if article_id is None:
        raise BadArticleError("no http(s) URL")
    if article_id in seen_ids:
        raise BadArticleError("same URL as an earlier record")
    digest = record.rec_headers.get_header("WARC-Payload-Digest")
    if digest:
        payloads.check(digest, relative)
    payload = record.content_stream().read(MAX_PAGE_BYTES + 1)
    if len(payload) > MAX_PAGE_BYTES:
        raise BadArticleError("too large")
    if cut_short(record):  # damage, not a page: the file ends (or breaks) inside this record
        raise CrawlDamage(offset, f"the record for {url} is cut short")
    if not digest:
        digest = "sha1-of-content:" + hashlib.sha1(payload).hexdigest()
        payloads.check(digest, relative)
    try:
        page = extract_page(payload, url)
    except BadArticleError:
        raise BadArticleError("too little text") from None
    if len(page["text"].split()) < MIN_WORDS:
        raise BadArticleError("too little text")
    crawl_date = parse_date(record.rec_headers.get_header("WARC-Date"))
    article = article_from_page(page, article_id, f"{relative}@{offset}", url=url, crawl_date=crawl_date,
                                source=host_of(url))
    seen_ids.add(article_id)
    payloads.add(digest, article_id, relative)
    return article


def short(text: str, limit: int = 40) -> str:
    """A header value in a count's reason: bounded, so a broken header cannot flood the summary."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cut_short(record) -> bool:
    """Whether the stream ended before the record's Content-Length (read it to the end first)."""
    return record.raw_stream is not None and record.raw_stream.limit > 0


def stream_position(stream, fallback: int) -> int:
    try:
        return stream.tell()
    except (OSError, ValueError):
        return fallback


def first_line(problem: BaseException) -> str:
    text = str(problem).strip().splitlines()
    return text[0][:200] if text else type(problem).__name__
