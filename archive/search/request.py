"""``SearchRequest`` and ``CoverageRequest``: the one place that knows a search's and a
coverage question's parameters.

Defaults, allowed values, limits and validation live here and nowhere else. The edges
derive what they need from ``parameters()``: the ``indexer search`` and ``indexer coverage``
options, the web's query-string parsing (``from_text``) and the OpenAPI parameter lists.
The filters (dates, source) are one definition, shared by both.

    SearchRequest(query="potash exports", mode="keyword", k=5)           # validated on creation
    SearchRequest.from_text({"q": "potash", "k": "5"})                    # from strings (query strings)
    CoverageRequest(queries=("coffee", "cocoa"), interval="month")
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import date

from ..errors import InvalidParameterError, ResultWindowError
from ..query.expansion import MAX_EDITS, MAX_EXPANSIONS, MAX_QUERY_TERMS, MINIMUM_LITERAL_PREFIX

MODES = ("hybrid", "keyword", "semantic")
SORTS = ("relevance", "date")
COLLAPSES = ("story", "none")
MAX_K = 100
MAX_RESULT_WINDOW = 1000  # page * k may not exceed this: deeper results are not fetched
MAX_QUERY_CHARACTERS = 1000
SIMILAR_K = 5  # how many similar articles, unless asked otherwise
INTERVALS = ("auto", "day", "week", "month", "year")
WORDS = ("any", "all")
MAX_COVERAGE_QUERIES = 5

# Ignored in queries: control characters, and the two blanks that only one of Python's and
# JSON Schema's (ECMA-262) ideas of white space includes, so the two agree on "empty".
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\ufeff]")
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
MAX_DIGITS = 18  # more digits than any parameter's range allows
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


@dataclass(frozen=True)
class Parameter:
    """How one search parameter is named, typed, bounded and described, for every edge."""

    name: str  # the field of SearchRequest
    kind: type  # str, int or float
    default: object
    description: str
    query_name: str = ""  # in a URL's query string; the field name when empty
    flags: tuple[str, ...] = ()  # the CLI option's flags; none for the positional QUERY argument
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    format: str | None = None  # "date"
    required: bool = False
    max_length: int | None = None  # text parameters
    pattern: str | None = None  # text parameters: what the value must contain (an ECMA-262 regex)
    range_message: str = ""  # what to say when a number is out of range; a default message when empty
    many: int = 0  # a parameter given up to this many times (a tuple of values); 0: once

    @property
    def url_name(self) -> str:
        return self.query_name or self.name


def parameter(description: str, **specification) -> dict:
    return {"parameter": {"description": description, **specification}}


def date_from_field():
    return field(default=None, metadata=parameter(
        "Earliest article date (inclusive), YYYY-MM-DD. Undated articles are left out when a date bound is set.",
        flags=("--from",), format="date"))


def date_to_field():
    return field(default=None, metadata=parameter(
        "Latest article date (inclusive), YYYY-MM-DD; not before date_from.", flags=("--to",), format="date"))


def source_field():
    return field(default=None, metadata=parameter(
        "Only articles from this source (the whole name, ignoring case).", flags=("--source",)))


class Request:
    """What both requests share: their parameters from their fields' metadata, reading them
    from text (a query string), and the checks every parameter's definition implies."""

    date_from: str | None
    date_to: str | None
    source: str | None

    @classmethod
    def parameters(cls) -> list[Parameter]:
        """Every parameter, in order, with its default (the edges derive theirs from this)."""
        return list(request_parameters(cls))

    @classmethod
    def parameter(cls, name: str) -> Parameter:
        return next(spec for spec in cls.parameters() if spec.name == name)

    @classmethod
    def from_text(cls, values: Mapping[str, str], *, blank_is_default: bool = True):
        """From text values keyed by their query-string names, as a URL or form sends them.
        A value of the wrong type, or given twice, is a 400 that says so. ``blank_is_default``:
        an empty value means "not given", as an HTML form sends untouched fields; the JSON API
        is strict and refuses it instead."""
        arguments: dict[str, object] = {}
        for spec in cls.parameters():
            if spec.many:
                given = [value for value in all_values(values, spec.url_name) if value.strip() or not blank_is_default]
                if spec.required and not given:
                    raise InvalidParameterError(f"the {spec.url_name} parameter is required")
                if given:
                    arguments[spec.name] = tuple(convert(spec, value) for value in given)
                continue
            raw = single_value(values, spec.url_name)
            if spec.required and raw is None:
                raise InvalidParameterError(f"the {spec.url_name} parameter is required")
            if raw is None or (raw == "" and blank_is_default and not spec.required):
                continue
            arguments[spec.name] = convert(spec, raw)
        return cls(**arguments)

    def check_parameters(self) -> None:
        """Choices, numbers in range, dates as dates, and date_from not after date_to."""
        set_value = object.__setattr__
        for spec in request_parameters(type(self)):
            value = getattr(self, spec.name)
            if spec.choices is not None and value not in spec.choices:
                raise InvalidParameterError(f"unknown {spec.name} {value!r}; use one of: {', '.join(spec.choices)}")
            if spec.kind is int and value is not None:
                check_whole_number(spec, value)
            if spec.kind is float and value is not None:
                check_number(spec, value)
            if spec.format == "date":
                set_value(self, spec.name, check_date(spec.name, value))
        set_value(self, "source", (self.source or "").strip() or None)
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise InvalidParameterError("date_from is after date_to")

    def filters_given(self) -> bool:
        return bool(self.date_from or self.date_to or self.source)


@dataclass(frozen=True)
class SearchRequest(Request):
    query: str = field(metadata=parameter(
        "The query: words, \"phrases\", AND/OR/NOT, field:value (title, source), wildcards* and fuzzy~ terms. "
        f"A wildcard needs {MINIMUM_LITERAL_PREFIX} characters before its first * or ? and is searched as its "
        f"{MAX_EXPANSIONS} most frequent words (a fuzzy term: the {MAX_EXPANSIONS} closest, at most {MAX_EDITS} edits); "
        f"a query holds at most {MAX_QUERY_TERMS:,} words after that. "
        f"Control characters are ignored; at most {MAX_QUERY_CHARACTERS} characters.",
        query_name="q", required=True, max_length=MAX_QUERY_CHARACTERS,
        pattern="[^\\s\\x00-\\x1f\\x7f\\x85\\ufeff]"))  # at least one character that is not blank
    mode: str = field(default="hybrid", metadata=parameter(
        "Which evidence ranks the results: both (hybrid), keywords only, or meaning only.",
        flags=("--mode",), choices=MODES))
    k: int = field(default=10, metadata=parameter(
        "Results per page.", flags=("-k",), minimum=1, maximum=MAX_K))
    page: int = field(default=1, metadata=parameter(
        f"1-based page. page × k may not exceed {MAX_RESULT_WINDOW}: deeper results are not fetched, "
        f"and such a request is refused with 400 and code {ResultWindowError.code}.",
        flags=("--page",), minimum=1, maximum=MAX_RESULT_WINDOW))
    alpha: float | None = field(default=None, metadata=parameter(
        "Hybrid only: weight of meaning in the fusion, from 0 (keywords only) to 1 (meaning only).",
        flags=("--alpha",), minimum=0.0, maximum=1.0,
        range_message="alpha must be a number from 0 (keyword only) to 1 (semantic only)"))
    date_from: str | None = date_from_field()
    date_to: str | None = date_to_field()
    source: str | None = source_field()
    sort: str = field(default="relevance", metadata=parameter(
        "relevance, or date (newest first, undated articles last).", flags=("--sort",), choices=SORTS))
    collapse: str = field(default="story", metadata=parameter(
        "story: one result per story (its best version, the other versions it matched listed with it), and "
        "total and facets count stories; none: every version is a result of its own.",
        flags=("--collapse",), choices=COLLAPSES))

    def __post_init__(self) -> None:
        object.__setattr__(self, "query", clean_query(self.query))
        self.check_parameters()
        if self.alpha is not None:
            object.__setattr__(self, "alpha", float(self.alpha))
        if self.page * self.k > MAX_RESULT_WINDOW:
            raise ResultWindowError(f"page * k may not exceed {MAX_RESULT_WINDOW}; narrow the query instead")

    @classmethod
    def check_k(cls, k: object) -> None:
        """The bounds of ``k``, for other lists of results that take one (similar articles)."""
        check_whole_number(cls.parameter("k"), k)

    @classmethod
    def k_from_text(cls, values: Mapping[str, str], default: int) -> int:
        """``k`` of another list of results (similar articles), from a query string; strict."""
        raw = single_value(values, "k")
        value = default if raw is None else convert(cls.parameter("k"), raw)
        cls.check_k(value)
        return int(value)  # type: ignore[call-overload]  # (checked a whole number just above)

    def with_query(self, query: str) -> SearchRequest:
        return replace(self, query=query)


@dataclass(frozen=True)
class CoverageRequest(Request):
    """How much coverage: every article the words of each query match, over time, by source,
    and the names and words that set them apart (archive/search/coverage.py)."""

    queries: tuple[str, ...] = field(default=(), metadata=parameter(
        f"A query, as in search (words, \"phrases\", AND/OR/NOT, title:, wildcards* and fuzzy~ terms). Give up to "
        f"{MAX_COVERAGE_QUERIES} to compare them: each is counted on its own, over the same buckets. Meaning-only "
        "matching is not counted: a query with no words to match says so.",
        query_name="q", required=True, max_length=MAX_QUERY_CHARACTERS, many=MAX_COVERAGE_QUERIES,
        pattern="[^\\s\\x00-\\x1f\\x7f\\x85\\ufeff]"))
    words: str = field(default="any", metadata=parameter(
        "any: plain words combine as in search (an article matches with any of them, more of them rank higher); "
        "all: an article must contain every plain word, as if they were joined by AND. Operators, phrases "
        "and fields keep their meaning either way.",
        flags=("--words",), choices=WORDS))
    interval: str = field(default="auto", metadata=parameter(
        "The buckets of over_time: day, week (from Monday), month or year; auto chooses from the span of the "
        "dated articles the filters let through (up to 62 days: day; up to a year: week; up to 10 years: "
        "month; longer: year).",
        flags=("--interval",), choices=INTERVALS))
    date_from: str | None = date_from_field()
    date_to: str | None = date_to_field()
    source: str | None = source_field()

    def __post_init__(self) -> None:
        queries = (self.queries,) if isinstance(self.queries, str) else tuple(self.queries)
        if not queries:
            raise InvalidParameterError("the q parameter is required", hint="give at least one query")
        if len(queries) > MAX_COVERAGE_QUERIES:
            raise InvalidParameterError(f"at most {MAX_COVERAGE_QUERIES} queries can be compared; "
                                        f"{len(queries)} were given")
        object.__setattr__(self, "queries", tuple(clean_query(query) for query in queries))
        self.check_parameters()


_PARAMETERS: dict[str, tuple[Parameter, ...]] = {}  # request class -> its parameters, made once


def request_parameters(request: type) -> tuple[Parameter, ...]:
    found = _PARAMETERS.get(request.__qualname__)
    if found is None:
        found = _PARAMETERS[request.__qualname__] = tuple(
            Parameter(name=item.name, kind=parameter_kind(item.type),
                      default=None if item.default is MISSING or item.default == () else item.default,
                      **item.metadata["parameter"])
            for item in fields(request))
    return found



def parameter_kind(annotation: object) -> type:
    text = str(annotation)
    return int if text.startswith("int") else float if text.startswith("float") else str


def clean_query(query: object) -> str:
    if not isinstance(query, str):
        raise InvalidParameterError("the query must be text")
    cleaned = " ".join(_CONTROL.sub(" ", query).split())
    if not cleaned:
        raise InvalidParameterError("the query is empty", hint="type some words to search for")
    if len(cleaned) > MAX_QUERY_CHARACTERS:
        raise InvalidParameterError(
            f"the query is too long ({len(cleaned)} characters; the limit is {MAX_QUERY_CHARACTERS})")
    return cleaned


def range_message(spec: Parameter, noun: str) -> str:
    if spec.range_message:
        return spec.range_message
    if spec.maximum is None:
        return f"{spec.name} must be {noun} from {spec.minimum:g}"
    return f"{spec.name} must be {noun} from {spec.minimum:g} to {spec.maximum:g}"


def within(spec: Parameter, value: float) -> bool:
    return (spec.minimum is None or spec.minimum <= value) and (spec.maximum is None or value <= spec.maximum)


def check_whole_number(spec: Parameter, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not within(spec, value):
        raise InvalidParameterError(range_message(spec, "a whole number"))


def check_number(spec: Parameter, value: object) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not within(spec, value):
        raise InvalidParameterError(range_message(spec, "a number"))


def check_date(name: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise InvalidParameterError(f"{name} must be a date as YYYY-MM-DD, not {value!r}") from None


def all_values(values: Mapping[str, str], name: str) -> list[str]:
    """Every value of a query-string parameter (a plain mapping has at most one)."""
    return values.getlist(name) if hasattr(values, "getlist") else ([values[name]] if name in values else [])


def single_value(values: Mapping[str, str], name: str) -> str | None:
    """The one value of a query-string parameter; a parameter given twice is refused."""
    given = all_values(values, name)
    if len(given) > 1:
        raise InvalidParameterError(f"{name} is given {len(given)} times; give it once")
    return given[0] if given else None


def convert(spec: Parameter, raw: str) -> object:
    """A query-string value as the parameter's type; the message says what was expected."""
    if spec.kind is int:  # plain ASCII digits only: not "1_0", " 5" or "٥"
        if not _WHOLE_NUMBER.fullmatch(raw):
            raise InvalidParameterError(f"{spec.name} must be a whole number, not {raw[:40]!r}")
        if len(raw.lstrip("+-")) > MAX_DIGITS:  # out of any range, zeros in front or not (Python's int limit)
            raise InvalidParameterError(range_message(spec, "a whole number"))
        return int(raw)
    if spec.format == "date" and raw == "":
        raise InvalidParameterError(f"{spec.name} must be a date as YYYY-MM-DD, not ''")
    if spec.choices is not None and raw not in spec.choices:
        raise InvalidParameterError(f"unknown {spec.name} {raw[:40]!r}; use one of: {', '.join(spec.choices)}")
    if spec.kind is float:  # a decimal number: not "nan", "inf" or "1_0"
        if not _NUMBER.fullmatch(raw):
            raise InvalidParameterError(f"{spec.name} must be a number, not {raw[:40]!r}")
        return float(raw)
    return raw
