"""The keyword impact arrays score exactly as Whoosh's searcher: the same passages, the same scores.

On the seed corpus (in the fast lane, on every clone) and, where the shared dataset exists,
on the Reuters-21578 keyword index (no embeddings needed), for queries like people type
them (titles with words dropped, single names) plus AND/NOT mixes and filters: the impact
arrays return the same top-100 passages as Whoosh, in the same order, with scores equal to
1e-4. Passages whose scores agree to 1e-9 are ties: Whoosh sums a query's terms in a tree
built per segment from that segment's own term frequencies, so two copies of one text in
two segments can differ in the last bit, and which of them comes first is float noise.
"""

from __future__ import annotations

import random
import shutil

import numpy as np
import pytest
from conftest import REUTERS, SEED_CORPUS

from archive.backends.embedded import keyword
from archive.backends.embedded.impacts import ImpactIndex
from archive.backends.embedded.keyword import KeywordIndex, impact_leaves
from archive.backends.embedded.mapped_arrays import mapped_npz, save_mapped_npz
from archive.backends.embedded.rebuild import keyword_documents
from archive.index.catalog import Catalog, Restriction, Strings
from archive.indexing.generation import passage_rows
from archive.ingest.corpus import read_corpus

TIE = 1e-9
SEED_QUERIES = ["Putin Belarus", "potash exports", "Lukashenko", "Minsk talks", "military exercises",
                "Russia Ukraine war", "title:Putin", "Shoigu AND agreement", "Belarus NOT potash",
                "Putin Lukashenko NOT Shoigu", "(sanctions OR potash)^2 Belarus", "Putin^3 Minsk"]


def catalog_of(rows) -> Catalog:
    articles = sorted(dict.fromkeys(row.article for row in rows), key=lambda article: article.id)
    return Catalog.from_rows([(article.id, article.date, article.source, None) for article in articles],
                             [(row.pid, row.article.id) for row in rows])


def build_keyword_generation(directory, rows, processes):
    keyword_directory = directory / keyword.KEYWORD_DIRECTORY
    keyword.write_keyword_index(keyword_directory, keyword_documents(rows), processes)
    keyword.write_impacts(keyword_directory, directory / keyword.IMPACTS_NAME)
    return keyword_directory


def restriction(catalog: Catalog, passages: np.ndarray) -> Restriction:
    """The filters' restriction of the passages in the mask (and of their articles)."""
    articles = np.zeros(catalog.article_count, dtype=bool)
    owners = catalog.passage_article[np.flatnonzero(passages[: len(catalog.passage_article)])]
    articles[owners[owners >= 0]] = True
    return Restriction(passages, lambda: articles)


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    """A keyword-only generation of the seed corpus, in two segments (three articles, then an
    append of the other two, as an add-only update writes it)."""
    directory = tmp_path_factory.mktemp("seed-keyword")
    articles = read_corpus(SEED_CORPUS).articles
    rows = passage_rows(articles[:3], "keyword-only")
    more = passage_rows(articles[3:], "keyword-only", first_pid=rows[-1].pid + 1)
    keyword_directory = directory / keyword.KEYWORD_DIRECTORY
    keyword.write_keyword_index(keyword_directory, keyword_documents(rows), 1)
    keyword.append_documents(keyword_directory, keyword_documents(more))
    keyword.write_impacts(keyword_directory, directory / keyword.IMPACTS_NAME)
    index = KeywordIndex(keyword_directory, catalog_of(rows + more))
    yield index, rows + more
    index.close()


def test_the_impact_arrays_equal_whoosh_on_the_seed_corpus(seed):
    index, rows = seed
    assert len(index.impacts.segments) == 2
    for query in SEED_QUERIES:
        parsed = index.parse(query)
        ours = index.search(parsed, 100)
        assert ours, query  # every one of these finds something, so the comparison is not of two empty lists
        assert_same_ranking(ours, index.search(parsed, 100, use_impacts=False), query)


def test_the_seed_comparison_covers_the_impact_path_and_booleans(seed):
    index, _ = seed
    parsed = [index.parse(query) for query in SEED_QUERIES]
    assert sum(impact_leaves(query.ranking) is not None for query in parsed) >= 8
    assert sum(query.article_level for query in parsed) == 3


def test_filtered_searches_agree_on_the_seed_corpus(seed):
    index, rows = seed
    allowed = np.zeros(max(row.pid for row in rows) + 1, dtype=bool)
    allowed[[row.pid for row in rows if row.article.id == rows[0].article.id or row.article.date]] = True
    for query in ["Putin Belarus", "Belarus NOT potash", "Minsk"]:
        parsed = index.parse(query)
        ours = index.search(parsed, 100, restriction(index.catalog, allowed))
        assert ours and all(allowed[pid] for pid, _ in ours), query
        assert_same_ranking(ours, index.search(parsed, 100, restriction(index.catalog, allowed), use_impacts=False),
                            query)


@pytest.fixture(scope="module")
def reuters(tmp_path_factory):
    """A keyword-only generation of all of Reuters, written by two processes (two segments)."""
    if not REUTERS.exists():
        pytest.skip("shared Reuters-21578 dataset not present")
    directory = tmp_path_factory.mktemp("reuters-keyword")
    rows = passage_rows(read_corpus(REUTERS).articles, "keyword-only")
    keyword_directory = build_keyword_generation(directory, rows, processes=2)
    index = KeywordIndex(keyword_directory, catalog_of(rows))
    yield index, rows
    index.close()


def reuters_queries(count: int = 300, seed: int = 11) -> list[str]:
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT))
    from bench.speed import make_queries

    queries = make_queries(count)
    generator = random.Random(seed)
    words = [query.split() for query in queries if len(query.split()) >= 2]
    for pair in generator.sample(words, 40):
        queries.append(f"{pair[0]} AND {pair[1]}")
        queries.append(f"{pair[0]} {pair[-1]} NOT {generator.choice(generator.choice(words))}")
    queries += ["title:oil prices", "source:reuters crude", "opec^3 output", "(wheat OR maize)^2 exports"]
    return queries


def assert_same_ranking(found, whoosh, query):
    assert len(found) == len(whoosh), query
    for (_, ours), (_, theirs) in zip(found, whoosh, strict=True):
        assert ours == pytest.approx(theirs, abs=1e-4), query
    position = 0
    while position < len(whoosh):  # walk tie groups: the same passages, in any order within a tie
        end = position + 1
        while end < len(whoosh) and abs(whoosh[end][1] - whoosh[position][1]) < TIE:
            end += 1
        ours, theirs = {pid for pid, _ in found[position:end]}, {pid for pid, _ in whoosh[position:end]}
        if end < len(whoosh):
            assert ours == theirs, (query, position)
        else:  # the last group may be cut at the limit: the same score, whichever passages
            assert all(abs(score - whoosh[position][1]) < TIE for _, score in found[position:end]), query
        position = end


@pytest.mark.slow
def test_the_impact_arrays_equal_whoosh_on_300_reuters_queries(reuters):
    index, rows = reuters
    queries = reuters_queries()
    assert len(queries) >= 300
    impact_count = 0
    for query in queries:
        parsed = index.parse(query)
        if impact_leaves(parsed.ranking) is not None:
            impact_count += 1
        assert_same_ranking(index.search(parsed, 100), index.search(parsed, 100, use_impacts=False), query)
    assert impact_count == len(queries)  # every one of these is a plain term query


@pytest.mark.slow
def test_filters_and_article_level_booleans_agree_too(reuters):
    index, rows = reuters
    allowed = np.zeros(max(row.pid for row in rows) + 1, dtype=bool)
    allowed[[row.pid for row in rows if (row.article.date or "") >= "1987-03-15"]] = True
    for query in ["oil prices", "wheat AND exports", "bank rate NOT dollar", "opec output cut", "coffee"]:
        parsed = index.parse(query)
        ours = index.search(parsed, 100, restriction(index.catalog, allowed))
        assert ours and all(allowed[pid] for pid, _ in ours)
        assert_same_ranking(ours, index.search(parsed, 100, restriction(index.catalog, allowed), use_impacts=False),
                            query)


def test_appended_arrays_equal_arrays_read_from_scratch(tmp_path):
    """An add-only update appends the new segment's columns; the result must be exactly the
    arrays a full read of the same index gives."""
    articles = read_corpus(SEED_CORPUS).articles
    rows = passage_rows(articles[:3], "keyword-only")
    more = passage_rows(articles[3:], "keyword-only", first_pid=rows[-1].pid + 1)
    keyword_directory = build_keyword_generation(tmp_path, rows, processes=1)
    keyword.append_documents(keyword_directory, keyword_documents(more))
    appended = keyword.write_impacts(keyword_directory, tmp_path / "appended.npz", previous=tmp_path / keyword.IMPACTS_NAME)
    scratch = keyword.write_impacts(keyword_directory, tmp_path / "scratch.npz")
    assert len(appended.segments) == 2 and appended.segments == scratch.segments
    assert np.array_equal(appended.pid_of_docnum, scratch.pid_of_docnum)
    for name, field in scratch.fields.items():
        other = appended.fields[name]
        order = [other.row(term) for term in field.terms]  # the appended vocabulary keeps old rows first
        for row, term in enumerate(field.terms):
            docs, impact = field.postings(row)
            other_docs, other_impact = other.postings(order[row])
            assert np.array_equal(docs, other_docs) and np.array_equal(impact, other_impact), (name, term)
            assert field.idf[row] == other.idf[order[row]]
        assert np.array_equal(field.lengths, other.lengths) and field.total_length == other.total_length
    reopened = ImpactIndex.open(tmp_path / "appended.npz")
    assert isinstance(reopened.fields["body"].impact.base, np.memmap)  # memory-mapped, not read into memory
    # Terms are found through the stored hashes, with no Python object per term (10 MB per
    # worker at 50x Reuters); arrays stored before the hashes were still give the same rows.
    body = reopened.fields["body"]
    assert isinstance(body.terms, Strings) and isinstance(body.terms.hashes.base, np.memmap)
    arrays = mapped_npz(tmp_path / "appended.npz")
    save_mapped_npz(tmp_path / "older.npz", {key: value for key, value in arrays.items()
                                             if not key.endswith((".term_hashes", ".term_order"))})
    older = ImpactIndex.open(tmp_path / "older.npz").fields["body"]
    assert isinstance(older.terms, list)
    assert list(body.terms) == older.terms == list(appended.fields["body"].terms)
    for term in [*older.terms, "no-such-term", ""]:
        assert body.row(term) == older.row(term) == appended.fields["body"].row(term)
    assert body.row_of is None
    shutil.rmtree(keyword_directory)
