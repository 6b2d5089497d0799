"""Reading a corpus: a folder walked recursively, or a single file, in any supported format.

Supported: ``.txt``, ``.md``, ``.html``/``.htm``, ``.json`` (one record or a list),
``.jsonl``, web crawls (``.warc``, see crawls.py), RSS and Atom feeds (``.rss``, ``.atom``,
and ``.xml`` files that are feeds, see feeds.py), and ``.gz`` versions of each. Each good item
becomes an ``Article``; each bad one becomes a ``Skipped`` with its reason, and the build goes
on. Crawls and feeds also count their records (read, kept, passed over by reason).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import BadArticleError, CorpusNotFoundError, InvalidParameterError
from . import cleaning, metadata
from .articles import Article
from .crawls import PayloadsSeen, read_crawl
from .extraction import article_from_html, article_from_text
from .feeds import read_feed
from .records import RecordCounts, Skipped

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
RECORD_SUFFIXES = {".json", ".jsonl", ".ndjson"}
CRAWL_SUFFIXES = {".warc"}
FEED_SUFFIXES = {".rss", ".atom", ".xml"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | RECORD_SUFFIXES | CRAWL_SUFFIXES | FEED_SUFFIXES
MAX_FEED_BYTES = 100 * 1024 * 1024
MAX_ARTICLE_BYTES = 5 * 1024 * 1024  # larger single articles are skipped, not truncated
MAX_FILE_BYTES = 2 * 1024 * 1024 * 1024  # record files (JSONL) may be big; they stream, up to this unpacked
MAX_RECORD_BYTES = 8 * 1024 * 1024  # one JSONL line; a longer one is skipped without being held in memory
MAX_REASON_CHARACTERS = 200
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FieldMapping:
    """Which record keys feed which article field; the first key present wins."""

    id: tuple[str, ...] = ("id", "_id", "doc_id", "docid", "uuid")
    title: tuple[str, ...] = ("title", "headline", "name")
    date: tuple[str, ...] = ("date", "published", "published_at", "pubdate", "datetime")
    source: tuple[str, ...] = ("source", "publisher", "sitename", "site")
    url: tuple[str, ...] = ("url", "link", "href")
    body: tuple[str, ...] = ("body", "text", "content", "article", "abstract")

    @classmethod
    def parse(cls, specification: str | None) -> FieldMapping:
        """``"title=headline,body=content|text"``: override keys per field (``|`` separates alternatives)."""
        if not specification:
            return cls()
        overrides: dict[str, tuple[str, ...]] = {}
        for part in specification.split(","):
            if not part.strip():
                continue
            name, separator, keys = part.partition("=")
            name = name.strip()
            if not separator or name not in cls.__dataclass_fields__ or not keys.strip():
                raise InvalidParameterError(
                    f"bad field mapping {part.strip()!r}",
                    hint="use FIELD=KEY[|KEY…], FIELD one of: " + ", ".join(cls.__dataclass_fields__),
                )
            overrides[name] = tuple(key.strip() for key in keys.split("|") if key.strip())
        return cls(**overrides)


Signature = tuple[int, int]  # (size, mtime in ns): a file with the same signature is taken as unchanged


@dataclass
class CorpusReading:
    """What ``read_corpus`` found: good articles in corpus order, skipped items with reasons,
    the signature of every file read, and which file each article came from."""

    articles: list[Article] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    files: dict[str, Signature] = field(default_factory=dict)
    article_files: dict[str, str] = field(default_factory=dict)
    unchanged_files: list[str] = field(default_factory=list)  # known files not read again
    records: dict[str, RecordCounts] = field(default_factory=dict)  # "crawl", "feed": what they held
    copies: dict[str, set[str]] = field(default_factory=dict)  # file -> articles it holds a second copy of
    payloads: PayloadsSeen = field(default_factory=PayloadsSeen)  # crawled pages' payload digests
    # article id -> its passages' (start, end), for articles whose files were read and split
    # elsewhere (cluster workers); the others are split when their passages are made
    passage_spans: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def counts(self, kind: str) -> RecordCounts:
        return self.records.setdefault(kind, RecordCounts())

    def records_dict(self) -> dict[str, dict]:
        return {kind: counts.to_dict() for kind, counts in sorted(self.records.items())}


Progress = Callable[[str, int, int], None]  # (phase, done, total)


def read_corpus(
    path: Path | str,
    fields: FieldMapping | None = None,
    known: dict[str, tuple[Signature, list[str], list[str]]] | None = None,
    progress: Progress | None = None,
    follow_links: bool = False,
    read_elsewhere: ReadElsewhere | None = None,
) -> CorpusReading:
    """Read every supported file. ``known`` maps a file to its signature, the ids of its
    articles and the ids of the articles it holds a second copy of (crawls and feeds), as at
    the last build: a file whose signature still matches is not read again (its articles count
    as unchanged), which keeps ``indexer update`` fast on large corpora; but one that shares an
    article with a file that changed or went is read again, so that the article comes out as a
    rebuild would make it. ``progress`` hears ("crawl", bytes read, bytes of crawls to read).
    ``follow_links``: also read file symlinks to files outside the corpus folder.
    ``read_elsewhere``: given the files that hold no crawl or feed (whose reading depends on the
    files read before them), reads them elsewhere (on a cluster's workers) and gives each one's
    ``FileRead`` in the same order; or returns None, and they are read here. Copies across files
    are found here either way, in corpus order, so the reading is the same."""
    root = Path(path)
    if not root.exists():
        raise CorpusNotFoundError(f"corpus not found: {root}")
    fields = fields or FieldMapping()
    known = known or {}
    reading = CorpusReading()
    files = []
    for file_path, relative in walk(root, reading.skipped, follow_links):
        try:
            status = file_path.stat()
        except OSError as problem:
            reading.skipped.append(Skipped(relative, f"unreadable: {problem.strerror or problem}"))
            continue
        reading.files[relative] = (status.st_size, status.st_mtime_ns)
        files.append((file_path, relative))
    unchanged = unchanged_files(reading.files, known)
    seen: dict[str, str] = {}
    for relative in (relative for _, relative in files if relative in unchanged):
        reading.unchanged_files.append(relative)
        _, owned, copies = known[relative]
        for article_id in owned:
            seen.setdefault(article_id, relative)
            reading.article_files[article_id] = relative
        for article_id in copies:
            reading.copies.setdefault(relative, set()).add(article_id)
    to_read = [(file_path, relative) for file_path, relative in files if relative not in unchanged]
    web_copies = WebCopies(reading, unchanged)
    crawl_progress = CrawlProgress(to_read, progress)
    plain = [(file_path, relative) for file_path, relative in to_read if web_kind(file_path) is None]
    read_there = read_elsewhere(plain) if read_elsewhere is not None and plain else None
    for file_path, relative in to_read:
        kind = web_kind(file_path)
        counts = reading.counts(kind) if kind else None
        if read_there is not None and kind is None:
            done = next(read_there)
        else:
            done = read_one(file_path, relative, fields, counts, crawl_progress.for_file(file_path), reading.payloads)
            crawl_progress.done_with(file_path)
        reading.skipped.extend(done.skipped)
        for position, article in enumerate(map(storable, done.articles)):
            where = article.path or relative
            if article.id in seen:
                if kind and counts is not None and web_copies.merge(article, relative, counts):
                    continue
                if counts is not None:
                    counts.kept -= 1
                    counts.skip("same id as an article in another file")
                reading.skipped.append(Skipped(where, f"duplicate id {article.id!r} (first in {seen[article.id]})"))
                continue
            seen[article.id] = where
            if kind:
                web_copies.add(article)
            reading.articles.append(article)
            reading.article_files[article.id] = relative
            if done.spans is not None:
                reading.passage_spans[article.id] = done.spans[position]
    for relative, article_ids in reading.payloads.copies.items():
        reading.copies.setdefault(relative, set()).update(article_ids)
    return reading


@dataclass
class FileRead:
    """One file's good articles and skipped items (the file itself, when it could not be read);
    ``spans``: each article's passage spans, when it was split where it was read."""

    articles: list[Article] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    spans: list[list[tuple[int, int]]] | None = None  # by position in ``articles`` (one file may repeat an id)


ReadElsewhere = Callable[[list[tuple[Path, str]]], Iterator[FileRead] | None]


def read_one(file_path: Path, relative: str, fields: FieldMapping, counts: RecordCounts | None = None,
             progress: Callable[[int], None] | None = None, payloads: PayloadsSeen | None = None) -> FileRead:
    """``read_file``, with a file that cannot be read as the reason it was skipped."""
    try:
        articles, skipped = read_file(file_path, relative, fields, counts, progress, payloads)
    except BadArticleError as problem:
        return FileRead(skipped=[Skipped(relative, problem.message)])
    except OSError as problem:
        return FileRead(skipped=[Skipped(relative, f"unreadable: {problem.strerror or problem}")])
    except RecursionError:
        return FileRead(skipped=[Skipped(relative, "nested too deeply to read")])
    except Exception as problem:  # a parser's failure (or ours) on this file alone: skip it, go on
        log.debug("reading %s failed", relative, exc_info=True)
        reason = f"could not be read: {type(problem).__name__}: {problem}"
        return FileRead(skipped=[Skipped(relative, reason[:MAX_REASON_CHARACTERS])])
    return FileRead(articles, skipped)


def read_and_split(file_path: Path, relative: str, fields: FieldMapping) -> FileRead:
    """A file with no crawl or feed in it, read, cleaned and each article split into passages:
    what a cluster worker does with its files."""
    from .passages import passage_spans

    done = read_one(file_path, relative, fields)
    done.articles = [storable(article) for article in done.articles]
    done.spans = [passage_spans(article.text) for article in done.articles]
    return done


def storable(article: Article) -> Article:
    """The article with text every store can hold: a lone surrogate (a JSON ``"\\ud800"`` escape,
    or a character reference to one) is not valid Unicode, and is replaced."""
    changes = {}
    for name in ("id", "title", "text", "date", "source", "url", "path", "author"):
        value = getattr(article, name)
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                changes[name] = value.encode("utf-8", errors="replace").decode("utf-8")
    return dataclasses.replace(article, **changes) if changes else article


def unchanged_files(signatures: dict[str, Signature], known: dict) -> set[str]:
    """Known files with their old signature, less those that share an article with a file that
    changed, is new or went (and so on, until no more are drawn in)."""
    unchanged = {relative for relative, signature in signatures.items()
                 if relative in known and known[relative][0] == signature}
    holders: dict[str, set[str]] = {}  # article id -> known files that hold it
    for relative, (_, owned, copies) in known.items():
        for article_id in (*owned, *copies):
            holders.setdefault(article_id, set()).add(relative)
    touched = [relative for relative in known if relative not in unchanged]
    while touched:
        relative = touched.pop()
        _, owned, copies = known[relative]
        for article_id in (*owned, *copies):
            for other in holders.get(article_id, ()):
                if other in unchanged:
                    unchanged.discard(other)
                    touched.append(other)
    return unchanged


def web_kind(path: Path) -> str | None:
    """"crawl" or "feed" for the files whose articles are named by their URLs, else None."""
    suffix = format_suffix(path)
    return "crawl" if suffix in CRAWL_SUFFIXES else "feed" if suffix in FEED_SUFFIXES else None


class WebCopies:
    """One article per URL across crawls and feeds: a second copy of a page (a feed entry of a
    crawled page, or the page in another crawl) is merged into the first, not added. Which
    files hold a second copy is kept (``CorpusReading.copies``), for updates."""

    SAME_URL = "same URL as an article in another file (merged)"

    def __init__(self, reading: CorpusReading, unchanged: set[str]) -> None:
        self.reading, self.unchanged = reading, unchanged
        self.positions: dict[str, int] = {}  # article id -> index in reading.articles (read this run)

    def add(self, article: Article) -> None:
        self.positions[article.id] = len(self.reading.articles)

    def merge(self, article: Article, relative: str, counts: RecordCounts) -> bool:
        """Merge ``article`` into the copy read before; False if that copy is no web copy (an
        ordinary duplicate id). A copy in an unchanged file stays as it is; this one is dropped."""
        reading = self.reading
        position = self.positions.get(article.id)
        first_file = reading.article_files.get(article.id)
        if first_file is None or position is None and (first_file not in self.unchanged
                                                        or web_kind(Path(first_file)) is None):
            return False
        counts.kept -= 1
        counts.skip(self.SAME_URL)
        if position is None:
            reading.copies.setdefault(relative, set()).add(article.id)
            return True
        first = reading.articles[position]
        richer, other = (article, first) if len(article.text) > len(first.text) else (first, article)
        reading.articles[position] = fill_in(richer, other)
        if richer is article:
            reading.copies.setdefault(first_file, set()).add(article.id)
            reading.article_files[article.id] = relative
        else:
            reading.copies.setdefault(relative, set()).add(article.id)
        return True


def fill_in(article: Article, other: Article) -> Article:
    """``article`` with what only ``other`` knows: an author, or a published date in place of a crawl date."""
    changes: dict[str, str] = {}
    if not article.author and other.author:
        changes["author"] = other.author
    if other.date and other.date_kind == "published" and article.date_kind != "published":
        changes.update(date=other.date, date_kind="published")
    return dataclasses.replace(article, **changes) if changes else article


class CrawlProgress:
    """Bytes read over all the crawls to read, reported as one bar."""

    def __init__(self, files: list[tuple[Path, str]], progress: Progress | None) -> None:
        self.progress = progress
        self.before = 0
        self.sizes: dict[Path, int] = {}
        if progress is None:
            return
        for file_path, _ in files:
            if web_kind(file_path) == "crawl":
                with contextlib.suppress(OSError):
                    self.sizes[file_path] = file_path.stat().st_size
        self.total = sum(self.sizes.values())

    def for_file(self, file_path: Path) -> Callable[[int], None] | None:
        if self.progress is None or file_path not in self.sizes:
            return None
        self.progress("crawl", self.before, self.total)
        progress = self.progress
        return lambda position: progress("crawl", min(self.before + position, self.total), self.total)

    def done_with(self, file_path: Path) -> None:
        if self.progress is not None and file_path in self.sizes:
            self.before += self.sizes.pop(file_path)
            self.progress("crawl", self.before, self.total)


def format_suffix(path: Path) -> str:
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def article_id_for(relative: str) -> str:
    """The path relative to the corpus root without its extension(s), ``/``-separated."""
    pure = PurePosixPath(relative)
    name = pure.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return str(pure.with_name(stem)) if str(pure.parent) != "." else stem


def walk(root: Path, skipped: list[Skipped], follow_links: bool = False) -> Iterator[tuple[Path, str]]:
    """Files in a stable order. Directory symlinks are not followed, so loops cannot trap us;
    a file symlink is followed only to a file inside the corpus folder, unless ``follow_links``
    (``ln -s /etc/passwd corpus/leak.txt`` would otherwise be indexed and served). A file name
    that is not valid UTF-8 gets an escaped, stable name (``caf\\xe9.txt``)."""
    if root.is_file():
        yield root, readable_name(root.name)
        return
    inside = root.resolve()
    for directory, subdirectories, files in os.walk(root, followlinks=False):
        subdirectories[:] = sorted(name for name in subdirectories if not name.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            file_path = Path(directory) / name
            relative = readable_name(file_path.relative_to(root).as_posix())
            if format_suffix(file_path) not in SUPPORTED_SUFFIXES:
                continue
            if file_path.is_symlink():
                if not file_path.exists():
                    skipped.append(Skipped(relative, "broken symlink"))
                    continue
                target = file_path.resolve()
                if not follow_links and not target.is_relative_to(inside):
                    skipped.append(Skipped(relative, "a symlink to a file outside the corpus folder "
                                                     "(not followed; --follow-links follows it)"))
                    continue
            yield file_path, relative


def readable_name(name: str) -> str:
    """A file name as text: as it is when it is valid UTF-8, else its bytes escaped (stably)."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:  # undecodable bytes, which os gives as lone surrogates
        return os.fsencode(name).decode("utf-8", errors="backslashreplace")


def read_bytes(path: Path, limit: int) -> bytes:
    size = path.stat().st_size
    if path.name.lower().endswith(".gz"):
        with gzip.open(path, "rb") as stream:
            try:
                data = stream.read(limit + 1)
            except (OSError, EOFError) as problem:
                raise BadArticleError(f"corrupt gzip file: {problem}") from None
    else:
        if size > limit:
            raise BadArticleError(f"too large ({size / 1e6:.0f} MB; the limit is {limit / 1e6:.0f} MB)")
        data = path.read_bytes()
    if len(data) > limit:
        raise BadArticleError(f"too large (over {limit / 1e6:.0f} MB unpacked)")
    return data


def decode(data: bytes) -> str:
    """UTF-8, falling back line by line to Windows-1252 for mixed or legacy encodings."""
    if looks_binary(data):
        raise BadArticleError("binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "\n".join(decode_line(line) for line in data.split(b"\n"))


def decode_line(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("cp1252", errors="replace")


def looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return True
    control = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 12, 13))
    return bool(sample) and control / len(sample) > 0.05


def read_file(path: Path, relative: str, fields: FieldMapping, counts: RecordCounts | None = None,
              progress: Callable[[int], None] | None = None,
              payloads: PayloadsSeen | None = None) -> tuple[list[Article], list[Skipped]]:
    """The file's good articles and its skipped records; raises BadArticleError for a bad file.
    ``counts`` gains the records of a crawl or a feed; ``payloads``: crawled pages kept before."""
    suffix = format_suffix(path)
    counts = counts if counts is not None else RecordCounts()
    if suffix in RECORD_SUFFIXES:
        return read_records(path, relative, fields, suffix)
    if suffix in CRAWL_SUFFIXES:
        return read_crawl(path, relative, counts, progress, payloads)
    if suffix in FEED_SUFFIXES:
        return read_feed(read_bytes(path, MAX_FEED_BYTES), relative, article_id_for(relative), counts,
                         named_as_feed=suffix != ".xml")
    text = decode(read_bytes(path, MAX_ARTICLE_BYTES))
    if not text.strip():
        raise BadArticleError("empty file")
    article_id = article_id_for(relative)
    if suffix in HTML_SUFFIXES:
        return [article_from_html(text, article_id, relative)], []
    if suffix in (".md", ".markdown"):
        text = strip_markdown(text)
    return [article_from_text(text, article_id, relative)], []


_FRONT_MATTER = re.compile(r"\A---\n(?P<body>.*?)\n---\n", re.S)
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+", re.M)


def strip_markdown(text: str) -> str:
    """Keep the words: front matter becomes stamp/source lines, heading marks go."""
    match = _FRONT_MATTER.match(text.replace("\r\n", "\n"))
    prefix: list[str] = []
    if match:
        for line in match["body"].splitlines():
            key, _, value = line.partition(":")
            value = value.strip().strip("\"'")
            if key.strip().lower() == "title" and value:
                prefix.insert(0, value)
            elif key.strip().lower() == "date" and value:
                prefix.append(f"Published {value}")
            elif key.strip().lower() == "source" and value:
                prefix.append(f"Source: {value}")
        text = text[match.end() :]
    text = _MARKDOWN_HEADING.sub("", text)
    return "\n\n".join(prefix + [text]) if prefix else text


def first_field(record: dict, keys: tuple[str, ...]) -> object:
    for key in keys:
        value = record.get(key)
        if value not in (None, "", []):
            return value
    return None


def article_from_record(record: object, fields: FieldMapping, fallback_id: str, path: str) -> Article:
    if not isinstance(record, dict):
        raise BadArticleError("record is not a JSON object")
    identifier = first_field(record, fields.id)
    article_id = str(identifier).strip() if identifier is not None else fallback_id
    body = first_field(record, fields.body)
    title = first_field(record, fields.title)
    if isinstance(body, list):
        body = "\n\n".join(str(part) for part in body)
    if not isinstance(body, str | type(None)) or not isinstance(title, str | type(None)):
        raise BadArticleError(f"record {article_id!r}: title and body must be text")
    if not (body or "").strip() and not (title or "").strip():
        raise BadArticleError(f"record {article_id!r}: no title and no body")
    source = first_field(record, fields.source)
    url = first_field(record, fields.url)
    return article_from_text(
        body or title or "",
        article_id,
        path,
        title=cleaning.normalise(title).strip() if title else None,
        date=metadata.parse_date(first_field(record, fields.date)),
        source=str(source) if source else None,
        url=str(url) if url else None,
    )


def read_records(
    path: Path, relative: str, fields: FieldMapping, suffix: str
) -> tuple[list[Article], list[Skipped]]:
    articles: list[Article] = []
    skipped: list[Skipped] = []
    if suffix == ".json":
        try:
            loaded = json.loads(decode(read_bytes(path, MAX_ARTICLE_BYTES * 20)))
        except json.JSONDecodeError as problem:
            raise BadArticleError(f"invalid JSON: {problem.msg} at line {problem.lineno}") from None
        except RecursionError:
            raise BadArticleError("invalid JSON: nested too deeply") from None
        records = loaded if isinstance(loaded, list) else [loaded]
        numbered = enumerate(records, start=1)
    else:
        numbered = enumerate(iterate_json_lines(path), start=1)
    for number, record in numbered:
        where = f"{relative}:{number}"
        try:
            if isinstance(record, BadArticleError):
                raise record
            articles.append(article_from_record(record, fields, f"{article_id_for(relative)}#{number}", where))
        except BadArticleError as problem:
            skipped.append(Skipped(where, problem.message))
    return articles, skipped


def iterate_json_lines(path: Path) -> Iterator[object]:
    """Records of a JSONL file; a malformed line yields a BadArticleError in its place. A line
    is read up to ``MAX_RECORD_BYTES`` (a longer one is passed over in pieces, never held whole),
    and a file up to ``MAX_FILE_BYTES`` unpacked."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    read = 0
    with opener(path, "rb") as stream:
        while True:
            line = stream.readline(MAX_RECORD_BYTES + 1)
            if not line:
                return
            read += len(line)
            if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):  # the rest of the over-long line
                    line = stream.readline(MAX_RECORD_BYTES)
                    read += len(line)
                yield BadArticleError(f"record longer than {MAX_RECORD_BYTES:,} bytes")
            elif line.strip():
                try:
                    yield json.loads(decode(line))
                except (json.JSONDecodeError, BadArticleError) as problem:
                    message = problem.msg if isinstance(problem, json.JSONDecodeError) else problem.message
                    yield BadArticleError(f"malformed JSON line: {message}")
                except RecursionError:
                    yield BadArticleError("malformed JSON line: nested too deeply")
            if read > MAX_FILE_BYTES:
                yield BadArticleError(f"the rest of the file, past {MAX_FILE_BYTES:,} bytes unpacked, unread")
                return
