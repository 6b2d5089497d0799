"""The Milvus backend's storage: an archive generation as three collections, and a pointer.

    <prefix>_control                  which generation is live, with its manifest (one row)
    <prefix>_<generation>_passages    a row per passage: title and passage text (English analyzer,
                                      BM25 functions into body_sparse and title_sparse), the dense
                                      vector, article id and number, date, source, story id,
                                      size and key, offsets, sentences
    <prefix>_<generation>_articles    a row per article (a long text continues in further rows):
                                      text and metadata for the pages, article number, story id
                                      and size, article vector and MinHash signature
    <prefix>_<generation>_records     vocabulary, name evidence, corpus files and which file each
                                      article came from: suggestions, name variants and updates

Rows are found by ``article_key``, a 63-bit hash of the article id, not by the id itself: an
id may hold any character, and Milvus Lite's expression parser cannot match some (tabs,
newlines). What a key finds is checked against the id.

Each article also has a dense **number** (0 to ``next_number`` in the pointer), on its rows and
on its passages' rows: the ordinal of the masks that AND/OR/NOT, counts and coverage share, so
that a search reads the numbers of what it finds and no process keeps a table of every
article (backends/milvus/catalog.py). A rebuild numbers the articles in id order; an update
gives new articles the numbers removed ones left ("free" records), then new ones.

Nothing of the archive is on the web server's disk. ``rebuild`` writes a new generation's
collections and then switches the pointer, one row upsert; on a Milvus server it also points
the alias ``<prefix>_passages`` at the new passages collection (``alter_alias``). Milvus Lite
2.5 has no aliases (its server answers UNIMPLEMENTED), so there the pointer alone switches.
A crash before the switch leaves the pointer (and the alias) on the old generation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import threading
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import BackendError, BackendUnavailableError, IndexCorruptError, IndexNotFoundError, IndexVersionError
from ...settings import MilvusAccess

DEFAULT_PREFIX = "news_archive"
MAX_VARCHAR = 65_535  # bytes: Milvus's limit for one VARCHAR value
TEXT_PART_CHARACTERS = 16_000  # an article text's part: at most 64,000 bytes in UTF-8, whatever its characters
ID_LENGTH = MAX_VARCHAR  # bytes (Milvus counts bytes): the longest an id may be
INSERT_BATCH = 500  # rows per insert call (a passage row is about 15 kB with its sentence vectors)
IN_BATCH = 256  # values per ``in [...]`` filter
QUERY_LIMIT = 16_384  # Milvus's most rows for one query or search
BM25_K1 = 0.9  # as the embedded keyword index (Anserini's BEIR settings)
BM25_B = 0.4
RECORD_VECTOR = [0.0, 0.0]  # Milvus wants a vector field in every collection; records have none of their own
LIVE = "live"
LAYOUT_VERSION = 3  # of the collections' fields and records; a pointer written by another version is refused
# Seconds for one Milvus call, retries included: a Milvus that stops answering is an error, not a
# hang. Whole seconds: pymilvus's retry loop ignores a timeout that is not an int.
CALL_TIMEOUT = 60
SEARCH_TIMEOUT = 10  # a search, and the reload check: what a visitor waits for
# Milvus (Lite, after it starts) loads a collection into memory before its first search: about
# 30 s for 300,000 passages here. Opening a generation waits for it, rather than a first search
# running out of time.
LOAD_TIMEOUT = 900
CONNECT_TIMEOUT = 5
GENERATION_NAME = re.compile(r"\d{8}T\d{12}_[0-9a-f]{6}")  # a generation id, as collection names spell it
REBUILD_HINT = "run `indexer rebuild --backend milvus --milvus-uri URI` to build it"


def is_lite(uri: str) -> bool:
    """A Milvus Lite database file (``….db``, as pymilvus decides), not a server address."""
    return "://" not in uri and uri.endswith(".db")


@dataclass(frozen=True)
class Collections:
    """The collection names of one generation."""

    generation: str
    passages: str
    articles: str
    records: str

    @classmethod
    def of(cls, prefix: str, generation: str) -> Collections:
        """``generation`` as its id (``…-abc123``) or as collection names spell it (``…_abc123``)."""
        base = f"{prefix}_{generation.replace('-', '_')}"
        return cls(generation, f"{base}_passages", f"{base}_articles", f"{base}_records")

    def all(self) -> list[str]:
        return [self.passages, self.articles, self.records]


def article_key(article_id: str) -> int:
    """The 63-bit key rows of an article are found by."""
    return int.from_bytes(hashlib.blake2b(article_id.encode("utf-8"), digest_size=8).digest(), "big") >> 1


def story_key(story_id: str) -> int:
    """The 63-bit key a count tells stories apart by (two of ten million stories share one with
    a chance of about 1 in 200,000, and then a count is one short)."""
    return article_key(story_id)


Columns = dict[str, "list | np.ndarray"]  # a search's output fields: numbers as an array, text as a list


class Milvus:
    """One connection (``pymilvus.MilvusClient``) whose calls fail as ``BackendError`` (or, when
    Milvus cannot be reached or does not answer in time, ``BackendUnavailableError``), never
    with a traceback of gRPC internals. Every call has a timeout."""

    def __init__(self, uri: str, client) -> None:
        self.uri, self.client = uri, client
        self.rows_read: Counter[str] = Counter()  # collection -> rows queries returned (what opening costs)

    def __getattr__(self, name: str):
        method = getattr(self.client, name)

        def call(*arguments, **options):
            options.setdefault("timeout", CALL_TIMEOUT)
            try:
                answer = method(*arguments, **options)
            except Exception as problem:
                if not from_milvus(problem):
                    raise  # a bug of ours, not Milvus's answer
                raise failure(self.uri, name, problem) from None
            if name == "query" and arguments:
                self.rows_read[arguments[0]] += len(answer)
            return answer

        return call

    def search_columns(self, collection: str, query, field: str, metric: str, limit: int, expression: str,
                       output_fields: list[str]) -> tuple[np.ndarray, np.ndarray, Columns]:
        """One search (``query``: a text for BM25, a vector otherwise) as columns: (pids, scores,
        {field: values}). pymilvus's own ``search`` makes a Python object of every hit, which
        cost as much as the search itself for the 16,384 hits of a common word's count. Same
        request, same errors."""
        from pymilvus.client.prepare import Prepare
        from pymilvus.client.utils import check_status

        try:
            connection = self.client._get_connection()
            request = Prepare.search_requests_with_expr(collection, [query], field, {"metric_type": metric}, limit,
                                                        expression, None, output_fields, -1, expr_params={})
            response = connection._stub.Search(request, timeout=SEARCH_TIMEOUT)
            check_status(response.status)
        except Exception as problem:
            if not from_milvus(problem):
                raise
            raise failure(self.uri, "search", problem) from None
        results = response.results
        pids = np.fromiter(results.ids.int_id.data, dtype=np.int64, count=len(results.ids.int_id.data))
        scores = np.fromiter(results.scores, dtype=np.float32, count=len(results.scores))
        columns: Columns = {}
        for data in results.fields_data:
            scalars = data.scalars
            kind = scalars.WhichOneof("data")
            values = getattr(scalars, kind).data if kind else []
            # (Numbers as arrays: a word's count reads 16,384 of them a search, and a Python object
            # for each, made and dropped search after search, left the worker's heap fragmented.)
            columns[data.field_name] = np.fromiter(values, dtype=np.int64, count=len(values)) \
                if kind in ("long_data", "int_data") else list(values)
        return pids, scores, columns

    def rows(self, collection: str, expression: str, fields: list[str], batch: int = 4096) -> Iterator[dict]:
        """Every row matching ``expression`` (past Milvus's 16,384-row cap, with an iterator)."""
        iterator = self.query_iterator(collection, batch_size=batch, filter=expression, output_fields=fields)
        try:
            while True:
                try:
                    page = iterator.next()
                except Exception as problem:
                    if not from_milvus(problem):
                        raise
                    raise failure(self.uri, "query", problem) from None
                if not page:
                    return
                self.rows_read[collection] += len(page)
                yield from page
        finally:
            iterator.close()

    def rows_in(self, collection: str, field: str, values: Sequence, fields: list[str], extra: str = "") -> list[dict]:
        """Rows whose ``field`` is one of ``values``, asked in batches (every row: past Milvus's
        16,384-row cap for one query, with an iterator)."""
        found: list[dict] = []
        values = list(dict.fromkeys(values))
        for start in range(0, len(values), IN_BATCH):
            expression = f"{field} in {literal(values[start : start + IN_BATCH])}" + (f" and {extra}" if extra else "")
            rows = self.query(collection, filter=expression, output_fields=fields, limit=QUERY_LIMIT)
            # One query answers what a page shows; only more than Milvus's cap needs the iterator.
            found += rows if len(rows) < QUERY_LIMIT else list(self.rows(collection, expression, fields))
        return found

    def rows_of(self, collection: str, article_ids: Sequence[str], fields: list[str], extra: str = "") -> list[dict]:
        """The rows of these articles (found by key, checked by id)."""
        wanted = set(article_ids)
        rows = self.rows_in(collection, "article_key", [article_key(article_id) for article_id in wanted],
                            list(dict.fromkeys([*fields, "article_id"])), extra)
        return [row for row in rows if row["article_id"] in wanted]

    def delete_articles(self, collection: str, article_ids: Sequence[str], extra: str = "") -> None:
        """Delete the rows of these articles (by key: a colliding key of another article is
        not deleted, as its id is checked first)."""
        rows = self.rows_of(collection, article_ids, [primary_key(collection)], extra)
        field = primary_key(collection)
        keys = [row[field] for row in rows]
        for start in range(0, len(keys), IN_BATCH):
            self.delete(collection, filter=f"{field} in {literal(keys[start : start + IN_BATCH])}")

    def insert_rows(self, collection: str, rows: Iterable[dict]) -> int:
        count = 0
        batch: list[dict] = []
        for row in rows:
            batch.append(row)
            if len(batch) == INSERT_BATCH:
                self.insert(collection, batch)
                count += len(batch)
                batch = []
        if batch:
            self.insert(collection, batch)
            count += len(batch)
        return count


def hit_rows(pids: np.ndarray, columns: Columns, kept: np.ndarray | None = None) -> list[dict]:
    """A search's hits as rows ({"pid", field: value}), those ``kept`` only (a mask) when given."""
    names = list(columns)
    positions = range(len(pids)) if kept is None else np.flatnonzero(kept).tolist()
    return [{"pid": int(pids[position]), **{name: columns[name][position] for name in names}}
            for position in positions]


def primary_key(collection: str) -> str:
    return "pid" if collection.endswith("_passages") else "key"


def from_milvus(problem: Exception) -> bool:
    """Whether an exception is Milvus's (or its connection's) answer, not a bug of ours."""
    from pymilvus.exceptions import MilvusException

    return isinstance(problem, MilvusException | ConnectionError | TimeoutError) \
        or type(problem).__module__.split(".")[0] == "grpc"


def failure(uri: str, call: str, problem: Exception) -> BackendError:
    """A pymilvus or gRPC failure as our error: unreachable or too slow, or refused."""
    detail = reason(problem)
    from pymilvus.exceptions import ConnectError, ConnectionNotExistException, MilvusUnavailableException

    cause = problem.__cause__ or problem.__context__
    status = getattr(cause, "code", None)
    code = str(status()) if callable(status) else ""  # a gRPC status
    unreachable = isinstance(problem, ConnectError | ConnectionNotExistException | MilvusUnavailableException
                             | ConnectionError | TimeoutError) \
        or any(sign in detail for sign in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "Retry run out", "Retry timeout",
                                           "failed to connect", "timed out")) \
        or "UNAVAILABLE" in code or "DEADLINE_EXCEEDED" in code
    kind = BackendUnavailableError if unreachable else BackendError
    return kind(f"Milvus at {uri} failed ({call}): {detail}")


def reason(problem: Exception) -> str:
    message = getattr(problem, "message", None) or str(problem)
    return " ".join(str(message).split())[:300]


def literal(value) -> str:
    """A value written into a Milvus filter expression (strings double-quoted and escaped)."""
    return json.dumps(value, ensure_ascii=False)


_clients: dict[str, Milvus] = {}
_clients_lock = threading.Lock()


def connect(uri: str, *, create: bool = False, access: MilvusAccess | None = None) -> Milvus:
    """The process's connection to ``uri``: a Milvus Lite ``.db`` file (one process at a time
    may open it) or a server address such as ``http://host:19530``. ``create``: a missing
    Lite file is created (builds); otherwise it is a missing index. ``access``: a token and
    TLS files, for a server that asks (used when the connection opens)."""
    with _clients_lock:
        if uri in _clients:
            return _clients[uri]
        if is_lite(uri):
            path = Path(uri)
            if not path.exists() and not create:
                raise IndexNotFoundError(f"no Milvus Lite database at {uri}", hint=REBUILD_HINT)
            path.parent.mkdir(parents=True, exist_ok=True)
        client = open_client(uri, access or MilvusAccess())
        _clients[uri] = Milvus(uri, client)
        return _clients[uri]


def disconnect(uri: str) -> None:
    """Close the process's connection (and so a Milvus Lite database, for another process)."""
    with _clients_lock:
        milvus = _clients.pop(uri, None)
    if milvus is not None:
        milvus.client.close()
        if is_lite(uri):  # the Milvus Lite server process holds the file until it stops
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(uri)


def open_client(uri: str, access: MilvusAccess):
    os.environ.setdefault("RUST_LOG", "error")  # Milvus Lite's text index logs every commit at INFO
    with warnings.catch_warnings():
        # milvus-lite 2.5 imports pkg_resources (hence setuptools<81), which warns on import.
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        try:
            from pymilvus import MilvusClient

            if is_lite(uri):
                import milvus_lite  # noqa: F401
        except ImportError as problem:
            raise BackendUnavailableError(
                f"the Milvus backend needs pymilvus and milvus-lite: {problem}",
                hint="pip install 'news-archive[milvus]' (pymilvus 2.5, milvus-lite 2.5, setuptools<81)") from None
        # Failures are raised as our errors; pymilvus would also log them (and iterator chatter) on stderr.
        for name in ("pymilvus", "pymilvus.milvus_client", "pymilvus.bulk_writer"):  # as pymilvus configures them
            logging.getLogger(name).setLevel(logging.CRITICAL)
        try:
            return MilvusClient(uri=uri, timeout=CONNECT_TIMEOUT, **({} if is_lite(uri) else access.client_options()))
        except Exception as problem:  # pymilvus raises its own and gRPC's errors here
            detail = reason(problem)
            if access.token:  # never shown, even where a client library repeats what it was given
                detail = detail.replace(access.token, "***")
            if is_lite(uri) and "Open local milvus failed" in detail:
                raise BackendUnavailableError(
                    f"the Milvus Lite database {uri} could not be opened; another process may have it open "
                    "(Milvus Lite allows one at a time)",
                    hint="stop the other process (a running `indexer serve`?), or use a Milvus server") from None
            raise BackendUnavailableError(f"cannot connect to Milvus at {uri}: {detail}") from None


# Schemas


def load_collections(milvus: Milvus, collections: Collections) -> None:
    """Have Milvus load the generation's passages and articles (nothing to do when it has)."""
    for name in (collections.passages, collections.articles):
        state = milvus.get_load_state(name).get("state")
        if getattr(state, "name", str(state)) != "Loaded":
            milvus.load_collection(name, timeout=LOAD_TIMEOUT)


def create_control(milvus: Milvus, prefix: str) -> str:
    name = f"{prefix}_control"
    if not milvus.has_collection(name):
        from pymilvus import DataType

        schema = milvus.create_schema(auto_id=False, description="news archive: the live generation")
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("value", DataType.VARCHAR, max_length=MAX_VARCHAR)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=len(RECORD_VECTOR))
        milvus.create_collection(name, schema=schema, index_params=flat_index(milvus, "vector"), consistency_level="Strong")
    return name


def flat_index(milvus: Milvus, field: str, **more):
    parameters = milvus.prepare_index_params()
    parameters.add_index(field, index_type="FLAT", metric_type="IP")
    for name, (index_type, metric, params) in more.items():
        parameters.add_index(name, index_type=index_type, metric_type=metric, params=params)
    return parameters


def create_generation(milvus: Milvus, collections: Collections, dimension: int) -> None:
    from pymilvus import DataType, Function, FunctionType

    english = {"type": "english"}
    passages = milvus.create_schema(auto_id=False, description=f"news archive passages, {collections.generation}")
    passages.add_field("pid", DataType.INT64, is_primary=True)
    passages.add_field("article_key", DataType.INT64)
    passages.add_field("article_id", DataType.VARCHAR, max_length=ID_LENGTH)
    passages.add_field("number", DataType.INT64)  # the article's
    passages.add_field("body", DataType.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True, analyzer_params=english)
    passages.add_field("title", DataType.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True, analyzer_params=english)
    passages.add_field("body_sparse", DataType.SPARSE_FLOAT_VECTOR)
    passages.add_field("title_sparse", DataType.SPARSE_FLOAT_VECTOR)
    passages.add_field("dense", DataType.FLOAT_VECTOR, dim=dimension)
    passages.add_field("date", DataType.VARCHAR, max_length=16)
    passages.add_field("source_key", DataType.VARCHAR, max_length=ID_LENGTH)
    passages.add_field("source", DataType.VARCHAR, max_length=ID_LENGTH)  # as written
    passages.add_field("story_id", DataType.VARCHAR, max_length=64)
    passages.add_field("story_size", DataType.INT64)  # articles in the story: a hit's "n versions" without a count
    passages.add_field("story_key", DataType.INT64)  # the story id's key: a count's stories read as numbers, not text
    passages.add_field("ordinal", DataType.INT64)
    passages.add_field("start", DataType.INT64)
    passages.add_field("end", DataType.INT64)
    passages.add_field("cache_key", DataType.VARCHAR, max_length=256)
    passages.add_field("sentence_spans", DataType.VARCHAR, max_length=MAX_VARCHAR)
    passages.add_field("sentence_vectors", DataType.VARCHAR, max_length=MAX_VARCHAR)
    for field in ("body", "title"):
        passages.add_function(Function(name=f"{field}_bm25", function_type=FunctionType.BM25,
                                       input_field_names=[field], output_field_names=[f"{field}_sparse"]))
    bm25 = ("SPARSE_INVERTED_INDEX", "BM25", {"bm25_k1": BM25_K1, "bm25_b": BM25_B})
    milvus.create_collection(collections.passages, schema=passages,
                             index_params=flat_index(milvus, "dense", body_sparse=bm25, title_sparse=bm25),
                             consistency_level="Strong")

    articles = milvus.create_schema(auto_id=False, description=f"news archive articles, {collections.generation}")
    articles.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)  # "<article key>:<part>"
    articles.add_field("article_key", DataType.INT64)
    articles.add_field("article_id", DataType.VARCHAR, max_length=ID_LENGTH)
    articles.add_field("part", DataType.INT64)
    articles.add_field("number", DataType.INT64)
    articles.add_field("source", DataType.VARCHAR, max_length=ID_LENGTH)  # as written
    articles.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR)
    articles.add_field("fields", DataType.VARCHAR, max_length=MAX_VARCHAR)  # title, source, url… as JSON
    articles.add_field("date", DataType.VARCHAR, max_length=16)
    articles.add_field("story_id", DataType.VARCHAR, max_length=64)
    articles.add_field("story_size", DataType.INT64)
    articles.add_field("signature", DataType.VARCHAR, max_length=4096)
    articles.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    milvus.create_collection(collections.articles, schema=articles, index_params=flat_index(milvus, "vector"),
                             consistency_level="Strong")

    records = milvus.create_schema(auto_id=False, description=f"news archive records, {collections.generation}")
    records.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)  # "<kind>:<hash of what it is about>"
    records.add_field("kind", DataType.VARCHAR, max_length=16)
    records.add_field("value", DataType.VARCHAR, max_length=MAX_VARCHAR)
    records.add_field("vector", DataType.FLOAT_VECTOR, dim=len(RECORD_VECTOR))
    milvus.create_collection(collections.records, schema=records, index_params=flat_index(milvus, "vector"),
                             consistency_level="Strong")


# Encoding of values Milvus has no type for


def encode_array(array: np.ndarray, dtype) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def decode_array(text: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype) if text else np.zeros(0, dtype=dtype)


def sentence_fields(spans: np.ndarray, vectors: np.ndarray) -> dict[str, str]:
    """A passage's sentence spans and fp16 vectors, as text that fits one VARCHAR: a passage of
    unusually many sentences keeps the first ones that fit (only highlighting reads them)."""
    fitting = max(1, (MAX_VARCHAR * 3 // 4) // max(1, vectors.shape[1] * 2)) if len(vectors) else 0
    return {"sentence_spans": encode_array(spans[:fitting], np.int32),
            "sentence_vectors": encode_array(vectors[:fitting], np.float16)}


def text_parts(text: str) -> list[str]:
    return [text[start : start + TEXT_PART_CHARACTERS] for start in range(0, len(text), TEXT_PART_CHARACTERS)] or [""]


def part_key(article_id: str, part: int) -> str:
    """The primary key of one part of an article's text (part 0 also holds its metadata)."""
    return f"{article_key(article_id)}:{part}"


def record_key(kind: str, *about: str) -> str:
    """The primary key of a record: its kind and a hash of what it is about (a word, a file path…)."""
    return f"{kind}:{hashlib.blake2b(chr(0).join(about).encode('utf-8'), digest_size=16).hexdigest()}"


# The pointer


def read_pointer(milvus: Milvus, prefix: str, for_rebuild: bool = False) -> dict | None:
    """The live generation's pointer: {"collections": generation, "manifest": {...}, …}, or None.
    ``for_rebuild``: a rebuild replaces whatever is there, so one another version wrote is
    returned too, and an unreadable one is as none."""
    name = f"{prefix}_control"
    if not milvus.has_collection(name, timeout=SEARCH_TIMEOUT):
        return None
    rows = milvus.query(name, filter=f"key == {literal(LIVE)}", output_fields=["value"], limit=1, timeout=SEARCH_TIMEOUT)
    if not rows:
        return None
    try:
        pointer = json.loads(rows[0]["value"])
    except ValueError as problem:
        if for_rebuild:
            return None
        raise IndexCorruptError(f"the pointer to the live generation in Milvus at {milvus.uri} is unreadable: "
                                f"{problem}") from None
    if not isinstance(pointer, dict) or not isinstance(pointer.get("collections"), str):
        if for_rebuild:
            return None
        raise IndexCorruptError(f"the pointer to the live generation in Milvus at {milvus.uri} is incomplete")
    if pointer.get("layout") != LAYOUT_VERSION and not for_rebuild:
        raise IndexVersionError(f"the archive in Milvus at {milvus.uri} has layout version {pointer.get('layout')}, "
                                f"not this program's {LAYOUT_VERSION}", hint=REBUILD_HINT)
    return pointer


def write_pointer(milvus: Milvus, prefix: str, collections: Collections, manifest: dict, next_pid: int,
                  next_number: int, pending: dict | None = None) -> None:
    """Make a generation live: one row, replaced at once (the alias first, where Milvus has them).
    ``next_pid``: the first passage id an update may give; ``next_number``: the first article
    number no article has had (the length of a mask by article number). ``pending``: an update
    under way (written before it changes anything, so that a crashed one is finished by the next)."""
    name = create_control(milvus, prefix)
    point_alias(milvus, f"{prefix}_passages", collections.passages)
    pointer = {"collections": collections.generation, "manifest": manifest, "next_pid": next_pid,
               "next_number": next_number, "layout": LAYOUT_VERSION}
    if pending:
        pointer["pending"] = pending
    milvus.upsert(name, [{"key": LIVE, "value": json.dumps(pointer, sort_keys=True), "vector": RECORD_VECTOR}])


def point_alias(milvus: Milvus, alias: str, collection: str) -> bool:
    """Point ``alias`` at ``collection`` on a Milvus server; False on Milvus Lite, which has no
    aliases (its server answers UNIMPLEMENTED)."""
    if is_lite(milvus.uri):
        return False
    if alias in milvus.list_aliases(collection).get("aliases", []):
        return True
    try:
        milvus.alter_alias(collection, alias)
    except BackendError:  # no such alias yet
        milvus.create_alias(collection, alias)
    return True


def generations(milvus: Milvus, prefix: str) -> list[str]:
    """Generations that have collections here, oldest first."""
    suffix = "_passages"
    found = set()
    for name in milvus.list_collections():
        middle = name[len(prefix) + 1 : -len(suffix)]
        if name.startswith(f"{prefix}_") and name.endswith(suffix) and GENERATION_NAME.fullmatch(middle):
            found.add(middle)  # (not another archive's whose prefix starts with this one's)
    return sorted(found)


def drop_generations(milvus: Milvus, prefix: str, keep: set[str]) -> list[str]:
    """Drop every generation's collections but those in ``keep`` (crashed builds' among them)."""
    dropped = []
    keep_names = {generation.replace("-", "_") for generation in keep}
    for generation in generations(milvus, prefix):
        if generation in keep_names:
            continue
        for name in Collections.of(prefix, generation).all():
            if milvus.has_collection(name):
                milvus.drop_collection(name)
        dropped.append(generation)
    return dropped
