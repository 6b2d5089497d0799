"""The query language, apart from any index: Whoosh's syntax with our rules, the analyzer
(tokens, stems, highlighting spans), name variants, exact words and what a query's parts mean.

Both backends search with it: the embedded backend scores the parsed query on its Whoosh index
and impact arrays, the Milvus backend maps it onto Milvus. What differs between them, how
patterns (wildcards, prefixes, fuzzy terms, ranges) expand and which terms they mark, each
backend's keyword index gives as an ``Expander``.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from whoosh import qparser, query
from whoosh.analysis import StandardAnalyzer, StemmingAnalyzer
from whoosh.fields import ID, NUMERIC, TEXT, Schema

from ..index.names import NameEvidence, NameVariants
from .expansion import MAX_QUERY_TERMS, Expansion, shown

TOKEN_PATTERN = r"\w+(\.?\w+)*"  # the classic Whoosh pattern; the fork's default keeps "*" in tokens
PARSE_CACHE_SIZE = 512
SYNTAX_NOTE = "query syntax error, searched as plain words"
OPERATORS = ("AND", "OR", "NOT", "ANDNOT", "ANDMAYBE")
_SYNTAX_CHARACTERS = re.compile(r"[\"()\[\]{}:^~*?\\]|\b(?:AND|OR|NOT|ANDNOT|ANDMAYBE)\b")
_ARTICLE_LEVEL = (query.And, query.AndNot, query.Not, query.Require, query.AndMaybe)


def text_analyzer():
    return StemmingAnalyzer(expression=TOKEN_PATTERN)


def keyword_schema() -> Schema:
    return Schema(
        pid=NUMERIC(int, bits=64, stored=True, unique=True, signed=False),
        article_id=ID(),
        title=TEXT(analyzer=text_analyzer(), phrase=True),
        body=TEXT(analyzer=text_analyzer(), phrase=True),
        source=TEXT(analyzer=StandardAnalyzer(expression=TOKEN_PATTERN, stoplist=None)),
        date=ID(),
    )


@dataclass
class ParsedQuery:
    query: query.Query  # the whole query, as the user wrote it (NOT made explicit)
    note: str | None = None
    terms: set[str] = field(default_factory=set)  # analysed terms to highlight
    ranking: query.Query = query.NullQuery  # what ranks passages
    article_level: bool = False  # AND/NOT must be decided per article before ranking
    # name variants searched besides the query's names: variant's index term -> (the name's index
    # term, the name as the query wrote it), e.g. "naiev" -> ("naev", "Naev")
    variants: dict[str, tuple[str, str]] = field(default_factory=dict)
    spellings: dict[str, str] = field(default_factory=dict)  # index term -> the word as the query wrote it
    expanded: set[str] = field(default_factory=set)  # terms that wildcards, fuzzy terms and ranges expanded into


class Expander(Protocol):
    """What a backend's keyword index gives the query language: how patterns (wildcards,
    prefixes, fuzzy terms, ranges) and what its index cannot search are rewritten, and which
    terms of the rewritten query to mark in results."""

    def expand(self, parsed: query.Query, expansion: Expansion, spellings: dict[str, str],
               text: str) -> query.Query:
        """``spellings``: index term -> the word as the query wrote it; ``text``: the query."""
        ...

    def highlight_terms(self, parsed: query.Query, expansion: Expansion) -> set[str]:
        """The analysed title and text terms of the rewritten query, to mark in results."""
        ...


class QueryAnalysis:
    """The query language, apart from any index: the analyzer (tokens, stems, highlighting
    spans), the parser, name variants and exact words. Each backend's keyword index holds one,
    with its own ``Expander``; one per generation, as expansions depend on the index."""

    def __init__(self, expander: Expander, name_evidence: Callable[[], NameEvidence] | None = None) -> None:
        """``name_evidence``: loads the archive's name counts, for name variants (none without)."""
        schema = keyword_schema()
        self.expander = expander
        self._name_evidence = name_evidence
        self._name_variants: NameVariants | None = None
        self._name_variants_lock = threading.Lock()
        self.analyzer = schema["body"].analyzer
        tokenizer, _, stop_filter, stem_filter = self.analyzer.items  # the StemmingAnalyzer's chain
        self._token = tokenizer.expression
        self._stops, self._shortest, self._longest = stop_filter.stops, stop_filter.min, stop_filter.max
        self._stem = stem_filter.stemfn
        self._index_form = functools.lru_cache(maxsize=200_000)(self._index_form_uncached)
        self._candidates = functools.lru_cache(maxsize=PARSE_CACHE_SIZE)(self._candidate_tokens)
        # Plain words are OR-ed (ranked by how many match), or, asked for every word, AND-ed.
        self.parsers: dict[bool, tuple[qparser.QueryParser, qparser.QueryParser]] = {}
        for every_word, group in ((False, qparser.OrGroup), (True, qparser.AndGroup)):
            parser = qparser.QueryParser("body", schema, group=group)
            parser.add_plugin(qparser.FuzzyTermPlugin())
            plain_parser = qparser.QueryParser("body", schema, group=group)
            plain_parser.remove_plugin_class(qparser.WildcardPlugin)
            self.parsers[every_word] = (parser, plain_parser)
        self.parser = self.parsers[False][0]
        # Recent parses, shared by a request's search, highlighting and suggestion, and by
        # repeated queries.
        self.parse = functools.lru_cache(maxsize=PARSE_CACHE_SIZE)(self.parse_uncached)

    # Text analysis

    def analyze(self, text: str) -> list[str]:
        """The index terms of ``text`` (lowercased, stemmed, stop words dropped)."""
        return [token.text for token in self.analyzer(text)]

    def term_spans(self, text: str, terms: set[str]) -> list[tuple[int, int]]:
        """Character spans of the tokens of ``text`` whose index term is one of ``terms``:
        what ``analyzer(text, chars=True, removestops=False)`` gives, with the analyzer's own
        tokenizer, stop list and stemmer, but one cached lookup per distinct token instead of
        a chain of generators per token (this is most of the work of showing a result)."""
        if not terms:
            return []
        index_form = self._index_form
        pattern = self._candidates(frozenset(terms))
        return [match.span() for match in pattern.finditer(text) if index_form(match[0]) in terms]

    def index_form(self, token: str) -> str:
        """A token's index term, as the analyzer makes it."""
        return self._index_form(token)

    def _candidate_tokens(self, terms: frozenset[str]) -> re.Pattern:
        """The tokenizer's pattern, restricted to tokens that begin as one of ``terms`` does:
        a stem keeps its word's first letters, so only those tokens can match, and the regex
        engine skips the rest in C (a third of the cost of showing a page). A token starts
        where no word character, and no word character and a dot, come just before it."""
        if any(len(term) < 2 or not term.isascii() for term in terms):
            return self._token
        heads = "|".join(re.escape(head) for head in sorted({term[:2] for term in terms}))
        return re.compile(rf"(?<!\w)(?<!\w\.)(?=(?i:{heads})){TOKEN_PATTERN}")

    def _index_form_uncached(self, token: str) -> str:
        """A token as the analyzer leaves it: lowercased; stemmed unless it is a stop word or
        too short or long (those keep their lowercased text when stop words are kept)."""
        text = token.lower()
        if len(text) < self._shortest or (self._longest is not None and len(text) > self._longest) or text in self._stops:
            return text
        return self._stem(text)

    # Queries

    def parse_uncached(self, text: str, every_word: bool = False) -> ParsedQuery:
        """Whoosh syntax; on malformed syntax, the same words searched plainly, with a note.
        A name also finds its variant spellings, unless it is quoted or written ``=Name``.
        A question is searched as a question: see ``read_question_marks``. ``every_word``:
        plain words must all be in an article (as if joined by AND), not any of them."""
        parser, plain_parser = self.parsers[every_word]
        text, questioned = read_question_marks(text)
        exact = self.exact_terms(text)
        text = EXACT_MARK.sub("", text)
        note = None
        parsed = None
        if syntax_is_balanced(text):
            try:
                parsed = exclude_negations(parser.parse(text))
            except Exception:  # the parser's failure modes are not a documented exception type
                note = SYNTAX_NOTE
        else:
            note = SYNTAX_NOTE
        if parsed is None:
            plain = " ".join(_SYNTAX_CHARACTERS.sub(" ", text).split())
            parsed = plain_parser.parse(plain) if plain else query.NullQuery
        expansion = Expansion()
        literal = {leaf.text for leaf in parsed.leaves() if type(leaf) is query.Term}
        spellings = self.query_spellings(text)
        parsed = self.expander.expand(parsed, expansion, spellings, text).normalize()  # raises QueryTooBroadError
        parsed, variants = with_name_variants(parsed, self.name_variants(), exact, spellings, expansion, literal)
        notes = ([note] if note else []) + expansion.notes
        matters = [word for word in questioned if self.would_match(f"{word}?")]
        if matters:
            notes.append(f"{', '.join(f'{word}?' for word in matters)}: a ? ending a word is read as a question mark, "
                         "not as a wildcard (wom?n still is one)")
        note = "; ".join(notes) or None
        terms = self.expander.highlight_terms(parsed, expansion)
        article_level = needs_article_level(parsed)
        positives = list(dict.fromkeys(positive_leaves(parsed)))  # a word in two branches ranks once
        if not article_level:
            ranking = parsed
        elif not positives:
            ranking = query.NullQuery
        else:
            ranking = positives[0] if len(positives) == 1 else query.Or(positives)
        return ParsedQuery(parsed, note, terms, ranking, article_level, variants, spellings, expansion.words)

    def would_match(self, pattern: str) -> bool:
        """Whether a wildcard would match any of the archive's words."""
        try:
            node = self.parser.parse(pattern)
            expanded = self.expander.expand(node, Expansion(), {}, pattern).normalize()
            return any(leaf is not query.NullQuery for leaf in expanded.leaves())
        except Exception:  # a pattern too broad, or not a pattern at all: it changes nothing that matters
            return False

    def name_variants(self) -> NameVariants | None:
        """The archive's names and their variants (made on the first query)."""
        if self._name_evidence is None or self._name_variants is not None:
            return self._name_variants
        with self._name_variants_lock:
            if self._name_variants is None:
                self._name_variants = NameVariants(self._name_evidence(), self._index_form)
        return self._name_variants

    def exact_terms(self, text: str) -> set[str]:
        """Index terms of the words the query wants spelled as written: quoted, or ``=Word``."""
        words = [match[0] for quoted in QUOTED.findall(text) for match in self._token.finditer(quoted)]
        words += [match[1] for match in EXACT_WORD.finditer(text)]
        return {self._index_form(word) for word in words}

    def query_spellings(self, text: str) -> dict[str, str]:
        """Index term -> the word as the query wrote it (for "Naiev ≈ Naev")."""
        return {self._index_form(match[0]): match[0] for match in reversed(list(self._token.finditer(text)))}


VARIANT_WEIGHT = 0.8  # a variant spelling counts a little less than the spelling asked for
QUOTED = re.compile(r'"([^"]*)"')
EXACT_WORD = re.compile(r"(?<![\w=])=(\w+)")
EXACT_MARK = re.compile(r"(?<![\w=])=(?=\w)")


def with_name_variants(node: query.Query, names: NameVariants | None, exact: set[str],
                       spellings: dict[str, str], expansion: Expansion,
                       literal: set[str]) -> tuple[query.Query, dict[str, tuple[str, str]]]:
    """Each title/body term the query wrote as a word (``literal``: not one a wildcard or fuzzy
    term produced), written as a name, not asked for exactly and not excluded, becomes an OR of
    itself and its variants (weighted ``VARIANT_WEIGHT``); variants count toward the query's term
    cap. Returns the query and the variants added (variant term -> (name term, as written))."""
    found: dict[str, tuple[str, str]] = {}
    if not names:
        return node, found
    asked: set[str] = set()  # every word the query searches already, in terms, phrases and expansions
    for leaf in node.leaves():
        asked.update(leaf.words if isinstance(leaf, query.Phrase) else [leaf.text] if type(leaf) is query.Term else [])
    cut = []

    def rewrite(node: query.Query) -> query.Query:
        if type(node) is query.Term:
            written = spellings.get(node.text, "")
            if node.fieldname not in ("title", "body") or node.text in exact or node.text not in literal \
                    or not names.is_name(written):
                return node
            others = [other for other in names.of(node.text) if other not in asked]
            room = MAX_QUERY_TERMS - expansion.terms
            if len(others) > room:
                cut.append(written)
                others = others[: max(room, 0)]
            if not others:
                return node
            expansion.terms += len(others)
            for other in others:
                found.setdefault(other, (node.text, written))
            return query.Or([node] + [query.Term(node.fieldname, other, boost=node.boost * VARIANT_WEIGHT)
                                      for other in others])
        if isinstance(node, query.AndNot):
            return query.AndNot(rewrite(node.a), node.b)  # what is excluded stays as written
        if isinstance(node, query.Not) or node.is_leaf():
            return node  # phrases and patterns are not names
        return node.apply(rewrite)

    rewritten = rewrite(node)
    if cut:
        expansion.other.append(f"variant spellings of {', '.join(cut)} cut at the {MAX_QUERY_TERMS:,}-word limit")
    return rewritten, found


_WORD_END = r"(?=[\s)\]}\"!.,;:]|$)"  # what may follow a word's end: space, closing marks, punctuation
TRAILING_QUESTION_MARKS = re.compile(r"(?<=[^\s(\[{\"?*])\?+" + _WORD_END)
LONE_MARKS = re.compile(r"(?<!\S)[?*]+(?!\S)")
QUESTIONED_WORD = re.compile(r"([^\s()\[\]{}\"]*?[^\s()\[\]{}\"?*])\?+" + _WORD_END)
QUOTED_PHRASE = re.compile(r'"[^"]*"')


def read_question_marks(text: str) -> tuple[str, list[str]]:
    """A query as a question: a ``?`` ending a word (before a space, the end, a closing bracket
    or punctuation: ``Minsk?``, ``why?!``, ``C++?``), and a ``?`` or ``*`` standing alone, are
    punctuation, not wildcards; a ``?`` inside a word is still one (``wom?n``), and so is ``*``
    after a word (``oil*``). Returns the text without them, and the words outside quotes that
    ended in a ``?`` (inside a phrase a ``?`` was never a wildcard)."""
    questioned = [match[1] for match in QUESTIONED_WORD.finditer(QUOTED_PHRASE.sub(" ", text))]
    return LONE_MARKS.sub(" ", TRAILING_QUESTION_MARKS.sub("", text)), questioned


def needs_article_level(node: query.Query) -> bool:
    if isinstance(node, _ARTICLE_LEVEL):
        return True
    return not node.is_leaf() and any(needs_article_level(child) for child in node.children())


def query_terms(parsed: query.Query) -> set[str]:
    """Analysed title/body terms of a rewritten query's terms and phrases, outside NOT.
    (Patterns are rewritten into terms before this is asked; Query.existing_terms would need
    an index reader, and it rebinds its ``fieldname`` argument in its loop and so skips every
    field after the first.)"""
    terms: set[str] = set()
    for leaf in positive_leaves(parsed):
        if leaf.field() not in ("title", "body"):
            continue
        if isinstance(leaf, query.Term):
            terms.add(str(leaf.text))
        elif isinstance(leaf, query.Phrase):
            terms.update(str(word) for word in leaf.words)
    return terms


def positive_leaves(node: query.Query):
    """Leaf queries that add matches: what sits under NOT is excluded, not highlighted."""
    if isinstance(node, query.Not):
        return
    if isinstance(node, query.AndNot):
        yield from positive_leaves(node.a)
        return
    if node.is_leaf():
        if node is not query.NullQuery:
            yield node
        return
    for child in node.children():
        yield from positive_leaves(child)


def exclude_negations(node: query.Query) -> query.Query:
    """Words are OR-ed for ranking, so "a b NOT c" parses as Or(a, b, Not(c)), which would
    match everything without c. Make it mean what people expect: (a OR b) AND NOT c."""
    if isinstance(node, query.Or):
        children = [exclude_negations(child) for child in node.subqueries]
        negative = [child.query for child in children if isinstance(child, query.Not)]
        positive = [child for child in children if not isinstance(child, query.Not)]
        if negative and positive:
            kept = positive[0] if len(positive) == 1 else query.Or(positive)
            dropped = negative[0] if len(negative) == 1 else query.Or(negative)
            return query.AndNot(kept, dropped)
        return query.Or(children) if children != node.subqueries else node
    if isinstance(node, query.And | query.AndNot | query.AndMaybe | query.Not | query.Require):
        return node.apply(exclude_negations)
    return node


def syntax_is_balanced(text: str) -> bool:
    if text.count('"') % 2:
        return False
    depth = 0
    for character in text:
        depth += {"(": 1, ")": -1}.get(character, 0)
        if depth < 0:
            return False
    if depth:
        return False
    return not re.search(r"\w+:\s*$|\w+:\s*[()]", text) and not re.search(r"(?:^|\s)(?:AND|OR|NOT)\s*$", text)


MAX_WORDS_SHOWN = 6  # of a pattern's expansion, in the query as understood


def understood(parsed: ParsedQuery) -> str:
    """The query as it is searched, for people: its words as written (a name's variant
    spellings beside it), phrases, fields, the words a pattern expanded into, and the
    operators, with brackets where they group. Empty when nothing in it can match
    (stop words only)."""
    variant_of = {variant: name for variant, (name, _) in parsed.variants.items()}

    def word(node: query.Term) -> str:
        prefix = "" if node.fieldname == "body" else f"{node.fieldname}:"
        return prefix + parsed.spellings.get(node.text, node.text)

    def show(node: query.Query, inner: bool) -> str:
        if node is query.NullQuery:
            return ""
        if type(node) is query.Term:
            return word(node)
        if isinstance(node, query.Phrase):
            prefix = "" if node.fieldname == "body" else f"{node.fieldname}:"
            return prefix + '"' + " ".join(parsed.spellings.get(term, term) for term in node.words) + '"'
        if isinstance(node, query.Not):
            return f"NOT {show(node.query, True)}"
        if isinstance(node, query.AndNot):
            text = f"{show(node.a, True)} AND NOT {show(node.b, True)}"
            return f"({text})" if inner else text
        if node.is_leaf():
            return shown(node)
        children = [child for child in node.children() if child is not query.NullQuery]
        if isinstance(node, query.Or) and children and type(children[0]) is query.Term \
                and all(type(child) is query.Term and variant_of.get(child.text) == children[0].text
                        for child in children[1:]) and len(children) > 1:
            return f"{word(children[0])} (or {', '.join(child.text for child in children[1:])})"
        if isinstance(node, query.Or) and all(type(child) is query.Term and child.text in parsed.expanded
                                              for child in children) and len(children) > 1:
            listed = ", ".join(word(child) for child in children[:MAX_WORDS_SHOWN])
            more = len(children) - MAX_WORDS_SHOWN
            return "any of " + listed + (f" and {more:,} more" if more > 0 else "")
        joiner = " OR " if isinstance(node, query.Or | query.DisjunctionMax) else " AND "
        parts = [part for part in (show(child, True) for child in children) if part]
        if not parts:
            return ""
        text = joiner.join(parts)
        return f"({text})" if inner and len(parts) > 1 else text

    return show(parsed.query, False)
