"""The keyword impact arrays: BM25 as sparse arrays, derived from Whoosh's own postings.

Whoosh stays the index of record, the analyzer and the query language, but it scores every
posting in pure Python, so its cost grows with the archive. For each scored field (``body``,
``title``, ``source``) a build reads Whoosh's postings once and keeps, per term and
passage, the term frequency and its BM25 term-frequency part (the "impact"):

    impact = tf * (K1 + 1) / (tf + K1 * (1 - B + B * fl / avgfl))

with exactly Whoosh's inputs: the byte-quantised field length ``fl`` that
``doc_field_length`` returns, ``avgfl = field_length / doc_count_all`` (as Whoosh's searcher
computes it), and the same K1 and B. A plain term query is then a weighted sum of rows,
``sum(boost * idf(term) * impact[term])``, with Lucene's idf, and the best passages come from
``numpy.argpartition``, ties broken by the lower document number as Whoosh's collector does.

Arrays live in ``impacts.npz`` (uncompressed) in the generation and are memory-mapped at
open. Columns are Whoosh document numbers; ``pid_of_docnum`` maps them to passages.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse

from ...index.budget import UNLIMITED, Budget
from ...index.catalog import Strings
from .mapped_arrays import mapped_npz, save_mapped_npz

IMPACTS_NAME = "impacts.npz"
FIELDS = ("body", "title", "source")


def lucene_idf(documents: int, frequencies: np.ndarray) -> np.ndarray:
    """log(1 + (N - n + 0.5) / (n + 0.5)), the keyword leg's idf (see keyword.NewsBM25F),
    computed with Python's ``math.log`` as Whoosh does, so that it agrees to the last bit."""
    return np.array([math.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))
                     for frequency in frequencies.tolist()], dtype=np.float64)


IDLE_BUFFERS = 2  # score arrays kept between queries (more are made while more queries run at once)


@dataclass
class FieldImpacts:
    terms: Sequence[str]  # row -> term: a list while built, Strings (no object per term) once stored
    indptr: np.ndarray  # int64, rows + 1
    docs: np.ndarray  # int32 docnums, ascending within a row
    tf: np.ndarray  # float32 term frequencies (Whoosh's posting weights)
    impact: np.ndarray  # float64 BM25 term-frequency parts, computed exactly as Whoosh does
    idf: np.ndarray  # float64 per row
    lengths: np.ndarray  # float32 per docnum: Whoosh's quantised field length (0 when empty)
    total_length: int  # Whoosh's field_length (sum of exact lengths)
    row_of: dict[str, int] | None = None

    def row(self, term: str) -> int | None:
        if isinstance(self.terms, Strings):
            return self.terms.index_of(term)
        if self.row_of is None:  # (a list: being built, or stored before the terms' hashes were)
            self.row_of = {term: index for index, term in enumerate(self.terms)}
        return self.row_of.get(term)

    def term_list(self) -> list[str]:
        """Every term, by row, as Python strings (made when asked: the expansion of wildcards)."""
        if isinstance(self.terms, Strings):
            return decode_terms(self.terms.blob, self.terms.offsets)  # (one decode, not one per term)
        return list(self.terms)

    def postings(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = int(self.indptr[row]), int(self.indptr[row + 1])
        return self.docs[start:end], self.impact[start:end]


def impacts_of(tf: np.ndarray, docs: np.ndarray, lengths: np.ndarray, total_length: int, doc_count_all: int,
               k1: float, b: float) -> np.ndarray:
    """Whoosh's ``bm25`` without the idf, operation by operation in float64:
    (tf * (K1 + 1)) / (tf + K1 * ((1 - B) + B * fl / avgfl))."""
    average = (total_length / (doc_count_all or 1)) or 1  # Whoosh: avg_field_length(...) or 1
    tf64 = tf.astype(np.float64)
    fl = lengths[docs].astype(np.float64)
    return (tf64 * (k1 + 1)) / (tf64 + k1 * ((1 - b) + b * fl / average))


class ImpactIndex:
    """Open impact arrays of one generation (read-only; safe to share across threads)."""

    def __init__(self, fields: dict[str, FieldImpacts], pid_of_docnum: np.ndarray, doc_count_all: int,
                 segments: list[tuple[str, int]], k1: float, b: float) -> None:
        self.fields = fields
        self.pid_of_docnum = pid_of_docnum
        self.doc_count_all = doc_count_all
        self.segments = segments
        self.k1, self.b = k1, b
        # Score arrays (a float64 and a flag per passage: 13 MB at a million articles), reused
        # across queries: a few kept idle, so a worker's memory grows with the searches it runs
        # at once, not with how many threads have ever searched.
        self._idle: list[tuple[np.ndarray, np.ndarray]] = []
        self._idle_lock = threading.Lock()

    # Building

    @classmethod
    def from_whoosh(cls, reader, k1: float, b: float) -> ImpactIndex:
        """Read every posting of the scored fields from a Whoosh reader (no deletions)."""
        if reader.has_deletions():
            raise ValueError("the keyword index has deleted documents; the impact arrays need a clean index")
        leaves = list(reader.leaf_readers())
        doc_count_all = reader.doc_count_all()
        pid_of_docnum = np.concatenate([segment_pids(segment) for segment, _ in leaves]) if leaves else np.zeros(0, np.int64)
        fields = {}
        for name in FIELDS:
            terms = list(reader.field_terms(name))
            rows = [[postings_of(segment, name, term, offset) for segment, offset in leaves if (name, term) in segment]
                    for term in terms]
            fields[name] = assemble(name, terms, rows, leaves, doc_count_all, k1, b)
        return cls(fields, pid_of_docnum, doc_count_all, segment_list(leaves), k1, b)

    def appended(self, reader) -> ImpactIndex | None:
        """These arrays plus the segments Whoosh added after them (an add-only update that
        committed without merging); None when the old segments are not all still in place."""
        leaves = list(reader.leaf_readers())
        current = segment_list(leaves)
        if reader.has_deletions() or current[: len(self.segments)] != self.segments or len(current) == len(self.segments):
            return None
        added = leaves[len(self.segments):]
        doc_count_all = reader.doc_count_all()
        pid_of_docnum = np.concatenate([np.asarray(self.pid_of_docnum)] + [segment_pids(segment) for segment, _ in added])
        fields = {}
        for name, old in self.fields.items():
            new_terms = sorted({term for segment, _ in added for term in segment.field_terms(name)})
            terms = old.term_list() + [term for term in new_terms if old.row(term) is None]
            row_of = {term: index for index, term in enumerate(terms)}
            pieces_docs, pieces_tf, pieces_rows = [], [], []
            for term in new_terms:
                for segment, offset in added:
                    if (name, term) in segment:
                        docs, tf = postings_of(segment, name, term, offset)
                        pieces_docs.append(docs)
                        pieces_tf.append(tf)
                        pieces_rows.append(np.full(len(docs), row_of[term], dtype=np.int64))
            width = doc_count_all
            before = scipy.sparse.csr_matrix((np.asarray(old.tf), np.asarray(old.docs), np.asarray(old.indptr)),
                                             shape=(len(old.terms), self.doc_count_all))
            before.resize((len(terms), width))
            after = scipy.sparse.csr_matrix(
                (np.concatenate(pieces_tf) if pieces_tf else np.zeros(0, np.float32),
                 (np.concatenate(pieces_rows) if pieces_rows else np.zeros(0, np.int64),
                  np.concatenate(pieces_docs) if pieces_docs else np.zeros(0, np.int64))),
                shape=(len(terms), width))
            combined = (before + after).tocsr()
            combined.sort_indices()
            lengths = np.concatenate([np.asarray(old.lengths)] + [segment_lengths(segment, name) for segment, _ in added])
            total = old.total_length + sum(segment.field_length(name) for segment, _ in added)
            fields[name] = finish(terms, combined.indptr.astype(np.int64), combined.indices.astype(np.int32),
                                  combined.data.astype(np.float32), lengths, total, doc_count_all, self.k1, self.b)
            del before, after, combined
        return ImpactIndex(fields, pid_of_docnum, doc_count_all, current, self.k1, self.b)

    # Storage

    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {
            "pid_of_docnum": np.asarray(self.pid_of_docnum, dtype=np.int64),
            "meta": np.array([self.doc_count_all, len(self.segments)], dtype=np.int64),
            "parameters": np.array([self.k1, self.b], dtype=np.float64),
            "segments": np.frombuffer("\n".join(f"{name}\t{count}" for name, count in self.segments).encode(), dtype=np.uint8),
        }
        for name, field in self.fields.items():
            terms = field.terms if isinstance(field.terms, Strings) else Strings.of(field.terms)
            arrays.update({f"{name}.terms": terms.blob, f"{name}.term_offsets": terms.offsets,
                           f"{name}.term_hashes": terms.hashes, f"{name}.term_order": terms.order,
                           f"{name}.indptr": np.asarray(field.indptr), f"{name}.docs": np.asarray(field.docs),
                           f"{name}.tf": np.asarray(field.tf), f"{name}.impact": np.asarray(field.impact),
                           f"{name}.idf": np.asarray(field.idf), f"{name}.lengths": np.asarray(field.lengths),
                           f"{name}.total_length": np.array([field.total_length], dtype=np.int64)})
        save_mapped_npz(path, arrays)

    @classmethod
    def open(cls, path: Path) -> ImpactIndex:
        arrays = mapped_npz(path)
        segments = [(line.split("\t")[0], int(line.split("\t")[1]))
                    for line in bytes(arrays["segments"]).decode().splitlines() if line]
        k1, b = (float(value) for value in arrays["parameters"])
        fields = {}
        for name in FIELDS:
            fields[name] = FieldImpacts(
                terms=Strings(arrays[f"{name}.terms"], arrays[f"{name}.term_offsets"], arrays[f"{name}.term_hashes"],
                              arrays[f"{name}.term_order"]) if f"{name}.term_hashes" in arrays
                else decode_terms(arrays[f"{name}.terms"], arrays[f"{name}.term_offsets"]),
                indptr=arrays[f"{name}.indptr"], docs=arrays[f"{name}.docs"], tf=arrays[f"{name}.tf"],
                impact=arrays[f"{name}.impact"], idf=arrays[f"{name}.idf"], lengths=arrays[f"{name}.lengths"],
                total_length=int(arrays[f"{name}.total_length"][0]))
        return cls(fields, arrays["pid_of_docnum"], int(arrays["meta"][0]), segments, k1, b)

    # Scoring

    def search(self, leaves: list[tuple[str, str, float]], depth: int,
               allowed: np.ndarray | None = None, budget: Budget = UNLIMITED) -> list[tuple[int, float]]:
        """The best ``depth`` (docnum, score) for a sum of weighted term leaves
        ``(field, term, weight)``: ``idf * impact * weight`` added up over the leaves in
        float64, among the documents any leaf matches (and ``allowed``, a docnum mask, lets
        through). Past the ``budget``, the leaves added so far are ranked."""
        scores, matched = buffers = self.borrow_buffers()
        touched = []
        try:
            for position, (field, term, weight) in enumerate(leaves):
                if not position % 16 and budget.expired():
                    break
                impacts = self.fields[field]
                row = impacts.row(term)
                if row is None:
                    continue
                docs, impact = impacts.postings(row)
                contribution = float(impacts.idf[row]) * impact  # as Whoosh: idf * tf part, then the boost
                if weight != 1.0:
                    contribution = contribution * weight
                scores[docs] += contribution
                matched[docs] = True
                touched.append(docs)
            if not touched:
                return []
            candidates = np.flatnonzero(matched)
            if allowed is not None:
                candidates = candidates[allowed[candidates]]
            return top(scores, candidates, depth)
        finally:
            for docs in touched:  # leave the buffers clean for the next query
                scores[docs] = 0.0
                matched[docs] = False
            self.return_buffers(buffers)

    def borrow_buffers(self) -> tuple[np.ndarray, np.ndarray]:
        with self._idle_lock:
            if self._idle:
                return self._idle.pop()
        return np.zeros(self.doc_count_all, dtype=np.float64), np.zeros(self.doc_count_all, dtype=bool)

    def return_buffers(self, buffers: tuple[np.ndarray, np.ndarray]) -> None:
        with self._idle_lock:
            if len(self._idle) < IDLE_BUFFERS:
                self._idle.append(buffers)

    def docs_with(self, field: str, term: str) -> np.ndarray:
        impacts = self.fields[field]
        row = impacts.row(term)
        return np.zeros(0, dtype=np.int32) if row is None else impacts.postings(row)[0]

    def term_count(self, field: str) -> int:
        return len(self.fields[field].terms)


def top(scores: np.ndarray, candidates: np.ndarray, depth: int) -> list[tuple[int, float]]:
    """The best ``depth`` (docnum, score) among the candidate docnums, best first; equal
    scores in docnum order, as Whoosh's collector keeps them."""
    if len(candidates) == 0 or depth <= 0:
        return []
    values = scores[candidates]
    if len(candidates) > depth:
        cut = np.argpartition(-values, depth - 1)[:depth]
        threshold = values[cut].min()
        above = candidates[values > threshold]
        tied = candidates[values == threshold][: depth - len(above)]  # candidates ascend: lower docnums first
        chosen = np.concatenate([above, tied])
    else:
        chosen = candidates
    chosen_scores = scores[chosen]
    order = np.lexsort((chosen, -chosen_scores))
    return [(int(chosen[index]), float(chosen_scores[index])) for index in order]


# Reading Whoosh


def segment_list(leaves) -> list[tuple[str, int]]:
    return [(segment.segment().segment_id(), segment.doc_count_all()) for segment, _ in leaves]


def segment_pids(segment) -> np.ndarray:
    """The passage id of each of the segment's documents, by its own document number."""
    pids = np.full(segment.doc_count_all(), -1, dtype=np.int64)
    for docnum, fields in segment.iter_docs():
        pids[docnum] = fields["pid"]
    return pids


def segment_lengths(segment, field: str) -> np.ndarray:
    return np.array([segment.doc_field_length(docnum, field, 0) or 0 for docnum in range(segment.doc_count_all())],
                    dtype=np.float32)


def postings_of(segment, field: str, term: str, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """(global docnums, weights) of one term in one segment. Whoosh's on-disk matcher is read a
    block at a time (its block arrays); any other matcher one posting at a time."""
    matcher = segment.postings(field, term)
    ids: list = []
    weights: list = []
    if hasattr(matcher, "_read_ids") and hasattr(matcher, "_read_weights") and hasattr(matcher, "_next_block"):
        while True:
            matcher._read_ids()
            matcher._read_weights()
            ids.extend(matcher._ids)
            weights.extend(matcher._weights)
            if matcher._lastblock:
                break
            matcher._next_block()
    else:
        while matcher.is_active():
            ids.append(matcher.id())
            weights.append(matcher.weight())
            matcher.next()
    return np.asarray(ids, dtype=np.int64) + offset, np.asarray(weights, dtype=np.float32)


def assemble(name: str, terms: list[str], rows: list[list[tuple[np.ndarray, np.ndarray]]], leaves,
             doc_count_all: int, k1: float, b: float) -> FieldImpacts:
    counts = np.array([sum(len(docs) for docs, _ in parts) for parts in rows], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    docs = np.concatenate([docs for parts in rows for docs, _ in parts]) if len(indptr) > 1 and indptr[-1] else np.zeros(0, np.int64)
    tf = np.concatenate([tf for parts in rows for _, tf in parts]) if len(docs) else np.zeros(0, np.float32)
    lengths = np.concatenate([segment_lengths(segment, name) for segment, _ in leaves]) if leaves else np.zeros(0, np.float32)
    total = sum(segment.field_length(name) for segment, _ in leaves)
    return finish(terms, indptr, docs.astype(np.int32), tf.astype(np.float32), lengths, total, doc_count_all, k1, b)


def finish(terms: list[str], indptr: np.ndarray, docs: np.ndarray, tf: np.ndarray, lengths: np.ndarray,
           total: int, doc_count_all: int, k1: float, b: float) -> FieldImpacts:
    frequencies = np.diff(indptr)
    return FieldImpacts(terms=terms, indptr=indptr, docs=docs, tf=tf,
                        impact=impacts_of(tf, docs, lengths, total, doc_count_all, k1, b),
                        idf=lucene_idf(doc_count_all, frequencies), lengths=lengths, total_length=int(total))


# Storage helpers


def decode_terms(blob: np.ndarray, offsets: np.ndarray) -> list[str]:
    data = bytes(blob)
    bounds = offsets.tolist()
    return [data[start:end].decode("utf-8") for start, end in zip(bounds, bounds[1:], strict=False)]


