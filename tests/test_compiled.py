"""The compiled keyword path equals Whoosh's searcher: the same passages, the same scores.

On the Reuters-21578 keyword index (no embeddings needed), for 300 queries like people type
them (titles with words dropped, single names) plus AND/NOT mixes and filters: the compiled
path returns the same top-100 passages as Whoosh, in the same order, with scores equal to
1e-4. Passages whose scores agree to 1e-9 are ties: Whoosh sums a query's terms in a tree
built per segment from that segment's own term frequencies, so two copies of one text in
two segments can differ in the last bit, and which of them comes first is float noise.
"""

from __future__ import annotations

import random
import shutil

import numpy as np
import pytest

from archive.build.generation import passage_rows
from archive.build.rebuild import keyword_documents
from archive.index import keyword
from archive.index.catalog import Catalog, source_key
from archive.index.impacts import ImpactIndex
from archive.index.keyword import KeywordIndex, compiled_leaves
from archive.ingest.corpus import read_corpus
from conftest import REUTERS, SEED_CORPUS

pytestmark = pytest.mark.skipif(not REUTERS.exists(), reason="shared Reuters-21578 dataset not present")
TIE = 1e-9


def catalog_of(rows) -> Catalog:
    articles = list(dict.fromkeys(row.article for row in rows))
    ordinal = {article.id: index for index, article in enumerate(articles)}
    passage_article = np.full(max(row.pid for row in rows) + 1, -1, dtype=np.int32)
    for row in rows:
        passage_article[row.pid] = ordinal[row.article.id]
    return Catalog(article_ids=[article.id for article in articles],
                   dates=np.array([article.date or "" for article in articles], dtype="<U10"),
                   source_keys=np.array([source_key(article.source) for article in articles], dtype=object),
                   passage_article=passage_article, ordinal=ordinal)


def build_keyword_generation(directory, rows, processes):
    keyword_directory = directory / keyword.KEYWORD_DIRECTORY
    keyword.write_keyword_index(keyword_directory, keyword_documents(rows), processes)
    keyword.write_impacts(keyword_directory, directory / keyword.IMPACTS_NAME)
    return keyword_directory


@pytest.fixture(scope="module")
def reuters(tmp_path_factory):
    """A keyword-only generation of all of Reuters, written by two processes (two segments)."""
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


def assert_same_ranking(compiled, whoosh, query):
    assert len(compiled) == len(whoosh), query
    for (_, ours), (_, theirs) in zip(compiled, whoosh, strict=True):
        assert ours == pytest.approx(theirs, abs=1e-4), query
    position = 0
    while position < len(whoosh):  # walk tie groups: the same passages, in any order within a tie
        end = position + 1
        while end < len(whoosh) and abs(whoosh[end][1] - whoosh[position][1]) < TIE:
            end += 1
        ours, theirs = {pid for pid, _ in compiled[position:end]}, {pid for pid, _ in whoosh[position:end]}
        if end < len(whoosh):
            assert ours == theirs, (query, position)
        else:  # the last group may be cut at the limit: the same score, whichever passages
            assert all(abs(score - whoosh[position][1]) < TIE for _, score in compiled[position:end]), query
        position = end


@pytest.mark.slow
def test_the_compiled_path_equals_whoosh_on_300_reuters_queries(reuters):
    index, rows = reuters
    queries = reuters_queries()
    assert len(queries) >= 300
    compiled_count = 0
    for query in queries:
        parsed = index.parse(query)
        if compiled_leaves(parsed.ranking) is not None:
            compiled_count += 1
        assert_same_ranking(index.search(parsed, 100), index.search(parsed, 100, compiled=False), query)
    assert compiled_count == len(queries)  # every one of these is a plain term query


@pytest.mark.slow
def test_filters_and_article_level_booleans_agree_too(reuters):
    index, rows = reuters
    allowed = np.zeros(max(row.pid for row in rows) + 1, dtype=bool)
    allowed[[row.pid for row in rows if (row.article.date or "") >= "1987-03-15"]] = True
    for query in ["oil prices", "wheat AND exports", "bank rate NOT dollar", "opec output cut", "coffee"]:
        parsed = index.parse(query)
        compiled = index.search(parsed, 100, allowed)
        assert compiled and all(allowed[pid] for pid, _ in compiled)
        assert_same_ranking(compiled, index.search(parsed, 100, allowed, compiled=False), query)


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
    shutil.rmtree(keyword_directory)
