"""Reading a corpus: a folder walked recursively, or a single file, in any supported format.

Supported: ``.txt``, ``.md``, ``.html``/``.htm``, ``.json`` (one record or a list),
``.jsonl``, and ``.gz`` versions of each. Each good item becomes an ``Article``; each bad
one becomes a ``Skipped`` with its reason, and the build goes on.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import cleaning, metadata
from .articles import Article
from ..errors import BadArticleError, CorpusNotFoundError, InvalidParameterError

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
RECORD_SUFFIXES = {".json", ".jsonl", ".ndjson"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | RECORD_SUFFIXES
MAX_ARTICLE_BYTES = 5 * 1024 * 1024  # larger single articles are skipped, not truncated
MAX_FILE_BYTES = 2 * 1024 * 1024 * 1024  # record files (JSONL) may be big; they stream


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


@dataclass
class Skipped:
    path: str
    reason: str

    def to_dict(self) -> dict:
        return {"path": self.path, "reason": self.reason}


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


def read_corpus(
    path: Path | str,
    fields: FieldMapping | None = None,
    known: dict[str, tuple[Signature, list[str]]] | None = None,
) -> CorpusReading:
    """Read every supported file. ``known`` maps a file to its signature and article ids at
    the last build: a file whose signature still matches is not read again (its articles
    count as unchanged), which keeps ``indexer update`` fast on large corpora."""
    root = Path(path)
    if not root.exists():
        raise CorpusNotFoundError(f"corpus not found: {root}")
    fields = fields or FieldMapping()
    known = known or {}
    reading = CorpusReading()
    seen: dict[str, str] = {}
    for file_path, relative in walk(root, reading.skipped):
        try:
            status = file_path.stat()
        except OSError as problem:
            reading.skipped.append(Skipped(relative, f"unreadable: {problem.strerror or problem}"))
            continue
        signature = (status.st_size, status.st_mtime_ns)
        reading.files[relative] = signature
        if relative in known and known[relative][0] == signature:
            reading.unchanged_files.append(relative)
            for article_id in known[relative][1]:
                seen.setdefault(article_id, relative)
                reading.article_files[article_id] = relative
            continue
        try:
            articles, skipped = read_file(file_path, relative, fields)
        except BadArticleError as problem:
            reading.skipped.append(Skipped(relative, problem.message))
            continue
        except OSError as problem:
            reading.skipped.append(Skipped(relative, f"unreadable: {problem.strerror or problem}"))
            continue
        reading.skipped.extend(skipped)
        for article in articles:
            where = article.path or relative
            if article.id in seen:
                reading.skipped.append(Skipped(where, f"duplicate id {article.id!r} (first in {seen[article.id]})"))
                continue
            seen[article.id] = where
            reading.articles.append(article)
            reading.article_files[article.id] = relative
    return reading


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


def walk(root: Path, skipped: list[Skipped]) -> Iterator[tuple[Path, str]]:
    """Files in a stable order; directory symlinks are not followed, so loops cannot trap us."""
    if root.is_file():
        yield root, root.name
        return
    for directory, subdirectories, files in os.walk(root, followlinks=False):
        subdirectories[:] = sorted(name for name in subdirectories if not name.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            file_path = Path(directory) / name
            relative = file_path.relative_to(root).as_posix()
            if format_suffix(file_path) not in SUPPORTED_SUFFIXES:
                continue
            if file_path.is_symlink() and not file_path.exists():
                skipped.append(Skipped(relative, "broken symlink"))
                continue
            yield file_path, relative


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


def read_file(path: Path, relative: str, fields: FieldMapping) -> tuple[list[Article], list[Skipped]]:
    """The file's good articles and its skipped records; raises BadArticleError for a bad file."""
    suffix = format_suffix(path)
    if suffix in RECORD_SUFFIXES:
        return read_records(path, relative, fields, suffix)
    text = decode(read_bytes(path, MAX_ARTICLE_BYTES))
    if not text.strip():
        raise BadArticleError("empty file")
    article_id = article_id_for(relative)
    if suffix in HTML_SUFFIXES:
        return [article_from_html(text, article_id, relative)], []
    if suffix in (".md", ".markdown"):
        text = strip_markdown(text)
    return [article_from_text(text, article_id, relative)], []


def article_from_text(text: str, article_id: str, path: str | None = None, **known: str | None) -> Article:
    """Plain text with no metadata: the headline, a stated date and a source come from the text."""
    raw_lines = cleaning.normalise(text).split("\n")
    stated_date = known.get("date") or metadata.find_date(raw_lines)
    lines, signed = cleaning.clean_lines(text)
    source, lines = metadata.find_source(lines)
    title = known.get("title")
    if not title:
        title, lines = metadata.split_headline(lines)
    elif lines and lines[0].strip() == title.strip():
        lines = lines[1:]
    body = cleaning.join_paragraphs(lines)
    if not body and not title:
        raise BadArticleError("no text left after cleaning")
    if not title:
        title = metadata.derive_title(body)
    source = known.get("source") or source or ("Reuters" if signed else None)
    return Article(
        id=article_id,
        title=" ".join(title.split()),
        text=body or title,
        date=stated_date,
        source=source,
        url=known.get("url"),
        path=path,
    )


def article_from_html(html: str, article_id: str, path: str) -> Article:
    import trafilatura

    extracted = trafilatura.extract(
        html, output_format="json", with_metadata=True, include_comments=False, include_tables=False
    )
    if not extracted:
        raise BadArticleError("no main text found in the HTML")
    found = json.loads(extracted)
    text = found.get("raw_text") or found.get("text") or ""
    if not text.strip():
        raise BadArticleError("no main text found in the HTML")
    return article_from_text(
        text,
        article_id,
        path,
        title=found.get("title"),
        date=metadata.parse_date(found.get("date")),
        source=found.get("sitename") or found.get("hostname"),
        url=found.get("source") or found.get("url"),
    )


_FRONT_MATTER = re.compile(r"\A---\n(?P<body>.*?)\n---\n", re.S)
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+", re.M)


def strip_markdown(text: str) -> str:
    """Keep the words: front matter becomes stamp/source lines, heading marks go."""
    match = _FRONT_MATTER.match(text.replace("\r\n", "\n"))
    prefix = []
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
    """Records of a JSONL file; a malformed line yields a BadArticleError in its place."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as stream:
        for line in stream:
            if not line.strip():
                continue
            try:
                yield json.loads(decode(line))
            except (json.JSONDecodeError, BadArticleError) as problem:
                message = problem.msg if isinstance(problem, json.JSONDecodeError) else problem.message
                yield BadArticleError(f"malformed JSON line: {message}")
