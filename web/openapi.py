"""The OpenAPI 3.1 description of the JSON API. The search parameters come from
``SearchRequest.parameters()``, so the description cannot drift from what the library accepts."""

from __future__ import annotations

from dataclasses import replace

from archive import (
    EXPORT_FIELDS,
    EXPORT_FORMATS,
    INTERVALS,
    MAX_K,
    MODES,
    SIMILAR_K,
    WORDS,
    CoverageRequest,
    OutOfTimeError,
    Parameter,
    QueryTooBroadError,
    ResultWindowError,
    SearchRequest,
)

NULLABLE_STRING = {"type": ["string", "null"]}
DATE_KIND = {"type": ["string", "null"], "enum": ["published", "crawled", None],
             "description": "published: the article states its date; crawled: a crawled page without a date of "
                            "its own, dated by when the crawler fetched it; null: no date."}
JSON_TYPES = {str: "string", int: "integer", float: "number"}
SEARCH_REJECTIONS = (
    "Invalid parameter: the message says what to fix. Besides each parameter's own schema, two rules "
    "join parameters: page × k may not exceed the result window (code "
    f"`{ResultWindowError.code}`), and date_from may not be after date_to (code `bad_request`). A wildcard "
    f"that would match too much to search (`*`, `a*`, `title:*`) is refused with code `{QueryTooBroadError.code}`."
)


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def error_responses(*statuses: int, bad_request: str = "Invalid parameter: the message says what to fix") -> dict:
    descriptions = {400: bad_request, 404: "No such article",
                    503: "The index is missing or unreadable (run `indexer rebuild`), or Milvus is unreachable; for an "
                         "export, the time budget ran out (code `timed_out`)"}
    return {str(status): {"description": descriptions[status],
                          "content": {"application/json": {"schema": ref("Error")}}} for status in statuses}


def json_response(description: str, schema: str, links: dict | None = None) -> dict:
    response = {"description": description, "content": {"application/json": {"schema": ref(schema)}}}
    if links:
        response["links"] = links
    return response


def parameter(name: str, schema: dict, description: str, required: bool = False, location: str = "query") -> dict:
    return {"name": name, "in": location, "required": required, "description": description, "schema": schema}


def search_parameter(spec: Parameter) -> dict:
    """One query parameter, from its SearchRequest or CoverageRequest definition (a parameter
    given up to n times is an array: ?q=coffee&q=cocoa)."""
    schema: dict = {"type": JSON_TYPES[spec.kind]}
    if spec.choices:
        schema["enum"] = list(spec.choices)
    if spec.minimum is not None:
        schema["minimum"] = spec.minimum
    if spec.maximum is not None:
        schema["maximum"] = spec.maximum
    if spec.format:
        schema["format"] = spec.format
    if spec.default is not None:
        schema["default"] = spec.default
    if spec.max_length:
        schema.update(minLength=1, maxLength=spec.max_length)
    if spec.pattern:
        schema["pattern"] = spec.pattern
    if spec.many:
        schema = {"type": "array", "items": schema, "minItems": 1 if spec.required else 0, "maxItems": spec.many}
        found = parameter(spec.url_name, schema, spec.description, spec.required)
        found.update(style="form", explode=True)
        return found
    return parameter(spec.url_name, schema, spec.description, spec.required)


VALIDATOR_HEADERS = {
    "ETag": {"schema": {"type": "string"}, "description": "Weak, from the generation and the request; absent "
                                                          "when a search was cut short by its time budget"},
    "Last-Modified": {"schema": {"type": "string"}, "description": "When the generation served was created"},
}
CONDITIONAL = [
    parameter("If-None-Match", {"type": "string"}, "An ETag this endpoint gave: 304 while it still holds", False,
              "header"),
    parameter("If-Modified-Since", {"type": "string"}, "An HTTP date: 304 unless the archive changed since", False,
              "header"),
]
NOT_MODIFIED = {"description": "Not modified: the archive has not changed since the copy the client has",
                "headers": VALIDATOR_HEADERS}
ATOM_RESPONSE = {"description": "An Atom 1.0 feed (RFC 4287)", "headers": VALIDATOR_HEADERS,
                 "content": {"application/atom+xml": {"schema": {"type": "string"}}}}
COVERAGE_REJECTIONS = (
    "Invalid parameter: the message says what to fix. Besides each parameter's own schema: more than "
    "5 queries, date_from after date_to, an interval that would make more than 2,000 buckets, and a "
    f"wildcard that would match too much (code `{QueryTooBroadError.code}`) are refused."
)
NULLABLE_COUNT = {"type": ["integer", "null"], "minimum": 0}
NULLABLE_SHARE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}


def coverage_schemas() -> dict:
    """The schemas of GET /api/coverage."""
    share = {**NULLABLE_SHARE, "description": "articles / all (null when all is 0)"}
    bucket = {"type": "object", "additionalProperties": False,
              "required": ["key", "start", "end", "articles", "stories", "all", "share"],
              "properties": {"key": {"type": "string", "description": "YYYY-MM-DD (a day, or a week's Monday), "
                                                                      "YYYY-MM or YYYY"},
                             "start": {"type": "string", "format": "date"}, "end": {"type": "string", "format": "date"},
                             "articles": {"type": "integer", "minimum": 0, "description": "matching articles"},
                             "stories": {"type": "integer", "minimum": 0,
                                         "description": "distinct stories among them (copies and versions once)"},
                             "all": {"type": "integer", "minimum": 0,
                                     "description": "every article in the bucket, under the same filters"},
                             "share": share}}
    source = {"type": "object", "additionalProperties": False, "required": ["source", "articles", "all", "share"],
              "properties": {"source": {"type": "string"}, "articles": {"type": "integer", "minimum": 1},
                             "all": {"type": "integer", "minimum": 1}, "share": share}}
    counted = {"type": "object", "additionalProperties": False, "required": ["articles", "all"],
               "properties": {"articles": {"type": "integer", "minimum": 0}, "all": {"type": "integer", "minimum": 0}}}
    distinct = {"matches": {"type": "integer", "minimum": 1, "description": "articles of the matches read that have it"},
                "archive": {"type": "integer", "minimum": 0, "description": "articles of the archive sample that have it"},
                "score": {"type": "number", "description": "log-likelihood ratio (G²): higher stands out more"}}
    return {
        "CoverageResponse": {
            "type": "object", "additionalProperties": False,
            "required": ["interval", "words", "filters", "archive", "buckets", "statistic", "took_ms", "queries"],
            "properties": {
                "interval": {"type": "string", "enum": [interval for interval in INTERVALS if interval != "auto"],
                             "description": "The buckets' interval (auto resolved)."},
                "words": {"type": "string", "enum": list(WORDS)},
                "filters": {"type": "object", "additionalProperties": False,
                            "required": ["date_from", "date_to", "source"],
                            "properties": {"date_from": NULLABLE_STRING, "date_to": NULLABLE_STRING,
                                           "source": NULLABLE_STRING}},
                "archive": {"type": "object", "additionalProperties": False, "required": ["articles", "dated", "undated"],
                            "description": "Every article the filters let through: the denominator.",
                            "properties": {name: {"type": "integer", "minimum": 0}
                                           for name in ("articles", "dated", "undated")}},
                "buckets": {"type": "array", "description": "The buckets every query is counted over, with every "
                                                           "article the filters let through in each (all).",
                            "items": {"type": "object", "additionalProperties": False,
                                      "required": ["key", "start", "end", "all"],
                                      "properties": {name: bucket["properties"][name]
                                                     for name in ("key", "start", "end", "all")}}},
                "statistic": {"type": "string", "description": "How names and terms are scored."},
                "took_ms": {"type": "number"},
                "queries": {"type": "array", "minItems": 1, "maxItems": 5, "items": ref("QueryCoverage")}}},
        "QueryCoverage": {
            "type": "object", "additionalProperties": False,
            "required": ["query", "understood", "note", "timed_out", "details_timed_out", "articles", "stories",
                         "share", "over_time", "undated", "sources", "names", "terms", "distinctive", "sample"],
            "description": "One query's coverage: every article of the archive (within the filters) that its words "
                           "match, exact. The counts are null when the query has no words to match (the note says "
                           "so) or when the time budget ran out first (timed_out): a count cut short is never a "
                           "number.",
            "properties": {
                "query": {"type": "string"},
                "understood": {"type": "string", "description": "The query as searched: words as written, a "
                                                                "name's variant spellings in brackets, phrases, "
                                                                "fields, pattern expansions and operators."},
                "note": NULLABLE_STRING,
                "timed_out": {"type": "boolean", "description": "The time budget ran out before the counts were "
                                                                "made: they are null."},
                "details_timed_out": {"type": "boolean", "description": (
                    "The counts are whole, but the budget ran out while names, terms or the best stories were "
                    "read: names and terms are null, the sample may be short.")},
                "articles": NULLABLE_COUNT,
                "stories": {**NULLABLE_COUNT, "description": "distinct stories the matching articles form"},
                "share": {**NULLABLE_SHARE, "description": "articles / every article the filters let through"},
                "over_time": {"type": ["array", "null"], "items": bucket,
                              "description": "Every bucket from the first to the last dated article the filters let "
                                             "through, empty ones too; the same buckets for every query."},
                "undated": {"type": ["object", "null"], "additionalProperties": False,
                            "required": ["articles", "stories", "all"],
                            "properties": {name: {"type": "integer", "minimum": 0}
                                           for name in ("articles", "stories", "all")}},
                "sources": {"type": ["object", "null"], "additionalProperties": False,
                            "required": ["buckets", "other", "unsourced"],
                            "properties": {
                                "buckets": {"type": "array", "maxItems": 20, "items": source,
                                            "description": "The 20 sources with most matches"},
                                "other": {"type": "object", "additionalProperties": False,
                                          "required": ["sources", "articles", "all"],
                                          "properties": {name: {"type": "integer", "minimum": 0}
                                                         for name in ("sources", "articles", "all")}},
                                "unsourced": counted}},
                "names": {"type": ["array", "null"], "maxItems": 20, "items": {
                    "type": "object", "additionalProperties": False,
                    "required": ["name", "matches", "archive", "score", "variants"],
                    "properties": {"name": {"type": "string"}, **distinct,
                                   "variants": {"type": "array", "items": {"type": "string"},
                                                "description": "other spellings of the name the matches use"}}}},
                "terms": {"type": ["array", "null"], "maxItems": 20, "items": {
                    "type": "object", "additionalProperties": False, "required": ["word", "matches", "archive", "score"],
                    "properties": {"word": {"type": "string"}, **distinct}}},
                "distinctive": {"type": ["object", "null"], "additionalProperties": False,
                                "required": ["read", "archive_read"],
                                "description": "What names and terms were counted over: matching articles read (an "
                                               "even sample of at most 500) and archive articles read (at most 2,000).",
                                "properties": {"read": {"type": "integer", "minimum": 0},
                                               "archive_read": {"type": "integer", "minimum": 0}}},
                "sample": {"type": "array", "maxItems": 10, "description": "The best-ranked stories of the search "
                                                                          "(both legs) among the matches.",
                           "items": {"type": "object", "additionalProperties": False,
                                     "required": ["id", "title", "date", "date_kind", "source", "story"],
                                     "properties": {
                                         "id": {"type": "string"}, "title": {"type": "string"},
                                         "date": NULLABLE_STRING, "date_kind": DATE_KIND, "source": NULLABLE_STRING,
                                         "story": {"type": "object", "additionalProperties": False,
                                                   "required": ["id", "size", "matched"],
                                                   "properties": {"id": {"type": "string"},
                                                                  "size": {"type": "integer", "minimum": 1},
                                                                  "matched": {"type": "integer", "minimum": 1}}}}}}}},
    }


ARTICLE_ID = parameter("article_id", {"type": "string", "minLength": 1}, "Article id (may contain '/')", True, "path")
FIRST_RESULT_LINKS = {
    "article": {"operationId": "article", "parameters": {"article_id": "$response.body#/results/0/id"},
                "description": "The first result's article."},
    "similar": {"operationId": "similar", "parameters": {"article_id": "$response.body#/results/0/id"},
                "description": "Articles similar to the first result."},
    "storyFeed": {"operationId": "storyFeed", "parameters": {"story_id": "$response.body#/results/0/story/id"},
                  "description": "The feed of the first result's story."},
}


def document() -> dict:
    leg = {"type": ["object", "null"], "required": ["rank", "score"], "additionalProperties": False,
           "properties": {"rank": {"type": "integer", "minimum": 1}, "score": {"type": "number"},
                          "variants": {"type": "array", "items": {"type": "string"},
                                       "description": "Keyword leg only, when it matched other spellings of a "
                                                      "name in the query: \"Naiev ≈ Naev\"."}}}
    mark = {"type": "object", "required": ["start", "end", "kind"], "additionalProperties": False,
            "properties": {"start": {"type": "integer", "minimum": 0}, "end": {"type": "integer", "minimum": 0},
                           "kind": {"type": "string", "enum": ["keyword", "variant", "semantic"],
                                    "description": "keyword: a word matching the query's words; variant: another "
                                                   "spelling of a name in the query; semantic: a sentence clearly "
                                                   "closest in meaning to the query"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "News archive API", "version": "2",
                 "description": "Hybrid keyword + semantic search over a news archive, with highlighted evidence. "
                                "Unknown query parameters are ignored."},
        "paths": {
            "/api/search": {"get": {
                "summary": "Search the archive", "operationId": "search",
                "parameters": [search_parameter(spec) for spec in SearchRequest.parameters()] + CONDITIONAL,
                "responses": {"200": {**json_response("Ranked articles with evidence", "SearchResponse",
                                                      FIRST_RESULT_LINKS), "headers": VALIDATOR_HEADERS},
                              "304": NOT_MODIFIED,
                              **error_responses(400, 503, bad_request=SEARCH_REJECTIONS)}}},
            "/search.atom": {"get": {
                "summary": "Follow a search: its newest results as an Atom feed", "operationId": "searchFeed",
                "description": "The parameters of /api/search (an empty value means \"not given\", as on the "
                               "pages); k, page and sort do not apply: the feed is the newest 100 results, newest "
                               "first by the article's date, undated last (the most recently seen first). Every "
                               "version of a story is an entry unless collapse=story. Entries: id, title, link to "
                               "the article page, published and updated (the article's date, or when the archive "
                               "first saw an undated one), the source as author and category, the best passage as "
                               "summary, and the story as a category and a link to its feed. Conditional: ETag and "
                               "Last-Modified change only with a new generation.",
                "parameters": [search_parameter(spec) for spec in SearchRequest.parameters()
                               if spec.name not in ("k", "page", "sort")] + CONDITIONAL,
                "responses": {"200": ATOM_RESPONSE, "304": NOT_MODIFIED,
                              **error_responses(400, 503, bad_request=SEARCH_REJECTIONS)}}},
            "/stories/{story_id}.atom": {"get": {
                "summary": "Follow a story: its versions as an Atom feed", "operationId": "storyFeed",
                "description": "Every version of the story (the newest 100), newest first by date, undated last. "
                               "Conditional, as the search feed.",
                "parameters": [parameter("story_id", {"type": "string", "minLength": 1},
                                         "A story id (results' story.id, an article's story.id)", True, "path")]
                + CONDITIONAL,
                "responses": {"200": ATOM_RESPONSE, "304": NOT_MODIFIED, **error_responses(404, 503)}}},
            "/api/coverage": {"get": {
                "summary": "How much coverage: counts over time, sources, names, terms", "operationId": "coverage",
                "description": "Every article of the archive (within the filters) that each query's words match, "
                               "counted over time with the archive's own count per bucket as the denominator, by "
                               "source, with the names and words that set the matches apart and the best stories. "
                               "Each query has the per-search time budget.",
                "parameters": [search_parameter(spec) for spec in CoverageRequest.parameters()],
                "responses": {"200": json_response("Coverage of each query", "CoverageResponse"),
                              **error_responses(400, 503, bad_request=COVERAGE_REJECTIONS)}}},
            "/api/coverage.csv": {"get": {
                "summary": "Coverage over time as CSV", "operationId": "coverageTable",
                "description": "A row per bucket (and one for undated articles) and, per query, four columns: "
                               "`QUERY: articles`, `QUERY: stories`, `QUERY: all articles`, `QUERY: share`. A count "
                               "that timed out reads `timed_out`.",
                "parameters": [search_parameter(spec) for spec in CoverageRequest.parameters()],
                "responses": {"200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                              **error_responses(400, 503, bad_request=COVERAGE_REJECTIONS)}}},
            "/api/export": {"get": {
                "summary": "Every matching article, as CSV or JSON Lines", "operationId": "export",
                "description": "Every article one query's words match, oldest first (undated last), with the fields "
                               f"{', '.join(EXPORT_FIELDS)}. Streamed; no limit. The header X-Matching-Articles says "
                               "how many rows follow. If the matching set cannot be made within the time budget, "
                               f"the answer is a 503 with code `{OutOfTimeError.code}`, never a partial list.",
                "parameters": [search_parameter(replace(spec, many=0, description="The query, as in search "
                                                        "(one: an export lists one query's matches).")
                                                if spec.many else spec)
                               for spec in CoverageRequest.parameters() if spec.name != "interval"] + [
                    parameter("format", {"type": "string", "enum": list(EXPORT_FORMATS), "default": EXPORT_FORMATS[0]},
                              "csv (with a header row) or jsonl (one JSON object a line)")],
                "responses": {"200": {"description": "The matching articles",
                                      "headers": {"X-Matching-Articles": {"schema": {"type": "integer"},
                                                                          "description": "rows in the body"}},
                                      "content": {"text/csv": {"schema": {"type": "string"}},
                                                  "application/x-ndjson": {"schema": {"type": "string"}}}},
                              **error_responses(400, 503, bad_request=COVERAGE_REJECTIONS)}}},
            "/api/articles/{article_id}": {"get": {
                "summary": "One article", "operationId": "article", "parameters": [ARTICLE_ID],
                "responses": {"200": json_response("The cleaned article", "Article", {
                    "similar": {"operationId": "similar", "parameters": {"article_id": "$response.body#/id"},
                                "description": "Articles similar to this one."}}),
                              **error_responses(404, 503)}}},
            "/api/articles/{article_id}/similar": {"get": {
                "summary": "Articles similar in meaning", "operationId": "similar",
                "parameters": [ARTICLE_ID, parameter("k", {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": SIMILAR_K},
                                                     "How many.")],
                "responses": {"200": json_response("Similar articles, this one excluded", "Similar", {
                    "article": {"operationId": "article", "parameters": {"article_id": "$response.body#/results/0/id"},
                                "description": "The most similar article."}}),
                              **error_responses(400, 404, 503)}}},
            "/api/stats": {"get": {"summary": "What the index holds", "operationId": "stats",
                                   "responses": {"200": json_response("Index statistics", "Stats"), **error_responses(503)}}},
            "/healthz": {"get": {"summary": "Liveness and index generation", "operationId": "health",
                                 "responses": {"200": json_response("Alive", "Health")}}},
            "/api/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                                          "responses": {"200": {"description": "OpenAPI 3.1 document",
                                                                "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error"], "additionalProperties": False, "properties": {"error": {
                "type": "object", "required": ["status", "code", "message"], "additionalProperties": False,
                "properties": {"status": {"type": "integer", "minimum": 400, "maximum": 599},
                               "code": {"type": "string"}, "message": {"type": "string"}}}}},
            "Mark": mark,
            "Passage": {"type": "object", "required": ["text", "start", "end", "matched", "marks", "html"],
                        "additionalProperties": False,
                        "properties": {"text": {"type": "string"},
                                       "start": {"type": "integer", "minimum": 0,
                                                 "description": "Offset of the passage in the article text"},
                                       "end": {"type": "integer", "minimum": 0},
                                       "matched": {"type": "array", "minItems": 1,
                                                   "items": {"type": "string", "enum": ["keyword", "semantic"]}},
                                       "marks": {"type": "array", "items": ref("Mark"),
                                                 "description": "Evidence spans, as offsets into text"},
                                       "html": {"type": "string",
                                                "description": "text, HTML-escaped, with <mark class=\"KIND\"> around each mark "
                                                               "(the site's own rendering)"}}},
            "StoryVersion": {"type": "object", "additionalProperties": False,
                             "required": ["id", "title", "source", "date", "date_kind"],
                             "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                                            "source": NULLABLE_STRING, "date": NULLABLE_STRING, "date_kind": DATE_KIND}},
            "Result": {"type": "object",
                       "required": ["id", "title", "date", "date_kind", "source", "score", "story", "explain", "passages"],
                       "additionalProperties": False, "properties": {
                           "id": {"type": "string"}, "title": {"type": "string"}, "date": NULLABLE_STRING,
                           "date_kind": DATE_KIND, "source": NULLABLE_STRING, "score": {"type": "number"},
                           "story": {"type": "object", "additionalProperties": False, "required": ["id", "size", "others"],
                                     "description": "The story this article belongs to (the versions of one event "
                                                    "across outlets, grouped at build time).",
                                     "properties": {
                                         "id": {"type": "string", "description": "Stable across `indexer update`"},
                                         "size": {"type": "integer", "minimum": 1,
                                                  "description": "Articles in the story, in the whole archive"},
                                         "others": {"type": "array", "maxItems": 20, "items": ref("StoryVersion"),
                                                    "description": "Collapsed (collapse=story): the story's other "
                                                                   "versions that this search matched (filters "
                                                                   "applied), best first, at most 20. Empty with "
                                                                   "collapse=none, where each version is a result."}}},
                           "explain": {"type": "object", "required": ["keyword", "semantic"], "additionalProperties": False,
                                       "properties": {"keyword": leg, "semantic": leg}},
                           "passages": {"type": "array", "minItems": 1, "maxItems": 3, "items": ref("Passage")}}},
            "SearchResponse": {"type": "object", "additionalProperties": False,
                               "required": ["query", "mode", "k", "page", "total", "took_ms", "timed_out", "note",
                                            "suggestion", "collapse", "facets", "matching", "results"],
                               "properties": {
                                   "query": {"type": "string"}, "mode": {"type": "string", "enum": list(MODES)},
                                   "k": {"type": "integer"}, "page": {"type": "integer"},
                                   "total": {"type": "integer", "minimum": 0,
                                             "description": "Distinct articles in the candidate pool that paging walks "
                                                            "(in hybrid mode, the union of both legs' top candidates); "
                                                            "collapsed (collapse=story, the default), the distinct "
                                                            "stories among them."},
                                   "collapse": {"type": "string", "enum": ["story", "none"],
                                                "description": "story: one result per story, and total and facets "
                                                               "count stories; none: every version is a result."},
                                   "matching": {"type": ["object", "null"], "additionalProperties": False,
                                                "required": ["articles", "stories"],
                                                "description": (
                                                    "Coverage, not the ranked pool: every article of the archive "
                                                    "(within the filters) that the query's words match, as a keyword "
                                                    "search decides it (stemmed words, name variants, phrases, "
                                                    "AND/OR/NOT), exact, and the stories they form, in every mode. "
                                                    "null when the query has no words to match, and when the time "
                                                    "budget ran out first (timed_out). GET /api/coverage counts them "
                                                    "over time."),
                                                "properties": {"articles": {"type": "integer", "minimum": 0},
                                                               "stories": {"type": "integer", "minimum": 0}}},
                                   "took_ms": {"type": "number"},
                                   "timed_out": {"type": "boolean",
                                                 "description": "The search reached its time budget (ARCHIVE_QUERY_BUDGET_MS, "
                                                                "1000 ms by default) and stopped: the results are what it "
                                                                "had ranked by then."},
                                   "note": {"type": ["string", "null"],
                                            "description": "What was changed about the query, if anything: a syntax error "
                                                           "searched as plain words, wildcards cut to their most frequent "
                                                           "words."},
                                   "suggestion": NULLABLE_STRING,
                                   "facets": ref("Facets"),
                                   "results": {"type": "array", "items": ref("Result")}}},
            "Facets": {
                "type": "object", "additionalProperties": False, "required": ["dates", "sources"],
                "description": "How the candidate pool that total counts spreads over time and sources (articles; "
                               "collapsed, stories, each counted by the version that stands for it: its date and "
                               "source). Each facet adds up to total.",
                "properties": {
                    "dates": {"type": "object", "additionalProperties": False, "required": ["unit", "buckets", "undated"],
                              "properties": {
                                  "unit": {"type": ["string", "null"], "enum": ["day", "month", "year", None],
                                           "description": "Bucket size, chosen from the span of the dated matches: "
                                                          "day up to 62 days, month up to 36 months, else year."},
                                  "buckets": {"type": "array", "items": {
                                      "type": "object", "additionalProperties": False, "required": ["key", "count"],
                                      "properties": {"key": {"type": "string", "description": "YYYY-MM-DD, YYYY-MM or YYYY"},
                                                     "count": {"type": "integer", "minimum": 1}}}},
                                  "undated": {"type": "integer", "minimum": 0}}},
                    "sources": {"type": "object", "additionalProperties": False, "required": ["buckets", "unsourced", "other"],
                                "properties": {
                                    "buckets": {"type": "array", "maxItems": 20, "items": {
                                        "type": "object", "additionalProperties": False, "required": ["source", "count"],
                                        "properties": {"source": {"type": "string"},
                                                       "count": {"type": "integer", "minimum": 1}}}},
                                    "unsourced": {"type": "integer", "minimum": 0},
                                    "other": {"type": "integer", "minimum": 0,
                                              "description": "Articles of sources past the first 20."}}}}},
            "Article": {"type": "object", "additionalProperties": False,
                        "required": ["id", "title", "date", "date_kind", "source", "url", "author", "text", "passages",
                                     "story", "claims", "claims_note"],
                        "properties": {
                            "id": {"type": "string"}, "title": {"type": "string"}, "date": NULLABLE_STRING,
                            "date_kind": DATE_KIND, "source": NULLABLE_STRING, "url": NULLABLE_STRING,
                            "author": NULLABLE_STRING, "text": {"type": "string"},
                            "passages": {"type": "array", "items": {"type": "object", "required": ["start", "end"],
                                                                    "properties": {"start": {"type": "integer"}, "end": {"type": "integer"}}}},
                            "story": {"type": "object", "additionalProperties": False,
                                      "required": ["id", "size", "articles"],
                                      "properties": {"id": {"type": "string"}, "size": {"type": "integer", "minimum": 1},
                                                     "articles": {"type": "array", "items": ref("StoryVersion"),
                                                                  "description": "The story's articles, this one too: "
                                                                                 "newest first, undated last; the newest "
                                                                                 "100 of a larger story (size counts "
                                                                                 "them all)."}}},
                            "claims_note": {**NULLABLE_STRING, "description": (
                                "What the claims' caps left out of the comparison (other versions past the newest "
                                "50, sentences past this article's first 400 or the others' first 4,000), or null.")},
                            "claims": {"type": "array", "description": (
                                "Sentences of this article that other articles of its story also report: alike in "
                                "meaning, with names and numbers that agree. Offsets are into the article texts."),
                                "items": {"type": "object", "additionalProperties": False,
                                          "required": ["start", "end", "text", "first", "also"],
                                          "properties": {
                                              "start": {"type": "integer", "minimum": 0}, "end": {"type": "integer"},
                                              "text": {"type": "string"},
                                              "first": {"type": ["object", "null"], "additionalProperties": False,
                                                        "required": ["article_id", "source", "date"],
                                                        "description": "Who reported it first: the earliest dated "
                                                                       "report, this article's included (an equal "
                                                                       "date keeps this article). null: none is dated.",
                                                        "properties": {"article_id": {"type": "string"},
                                                                       "source": NULLABLE_STRING,
                                                                       "date": {"type": "string", "format": "date"}}},
                                              "also": {"type": "array", "minItems": 1, "description": (
                                                  "The other reports, oldest first by the article's date (undated "
                                                  "last, by when the archive first saw them)."), "items": {
                                                  "type": "object", "additionalProperties": False,
                                                  "required": ["article_id", "source", "date", "start", "end", "text",
                                                               "score"],
                                                  "properties": {"article_id": {"type": "string"}, "source": NULLABLE_STRING,
                                                                 "date": NULLABLE_STRING,
                                                                 "start": {"type": "integer", "minimum": 0},
                                                                 "end": {"type": "integer"}, "text": {"type": "string"},
                                                                 "score": {"type": "number"}}}}}}}}},
            "Similar": {"type": "object", "additionalProperties": False, "required": ["id", "results"], "properties": {
                "id": {"type": "string"}, "results": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False,
                    "required": ["id", "title", "date", "date_kind", "source", "score"],
                    "properties": {"id": {"type": "string"}, "title": {"type": "string"}, "date": NULLABLE_STRING,
                                   "date_kind": DATE_KIND, "source": NULLABLE_STRING, "score": {"type": "number"}}}}}},
            "Stats": {"type": "object", "additionalProperties": False, "required": [
                "generation", "created_at", "articles", "passages", "date_from", "date_to", "sources", "model",
                "dimension", "vector_index", "corpus_path", "corpus_fingerprint"], "properties": {
                "generation": {"type": "string"}, "created_at": {"type": "string"}, "articles": {"type": "integer"},
                "passages": {"type": "integer"}, "date_from": NULLABLE_STRING, "date_to": NULLABLE_STRING,
                "sources": {"type": "array", "items": {"type": "object", "required": ["source", "articles"],
                                                       "properties": {"source": {"type": "string"}, "articles": {"type": "integer"}}}},
                "model": {"type": "string"}, "dimension": {"type": "integer"}, "vector_index": {"type": "string"},
                "corpus_path": {"type": "string"}, "corpus_fingerprint": {"type": "string"}}},
            **coverage_schemas(),
            "Health": {"type": "object", "additionalProperties": False,
                       "required": ["status", "generation", "index", "reason"], "properties": {
                "status": {"type": "string", "enum": ["ok", "degraded"],
                           "description": "degraded: the live generation is not served (damaged, or none opens)"},
                "generation": NULLABLE_STRING,
                "index": {"type": "string", "description": "ready, or the error code that keeps the index from opening"},
                "reason": {**NULLABLE_STRING, "description": "why the status is degraded, and what to do"}}},
        }},
    }
