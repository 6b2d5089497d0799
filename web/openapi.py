"""The OpenAPI 3.1 description of the JSON API, built from the library's own limits."""

from __future__ import annotations

from archive import MAX_K, MAX_QUERY_CHARACTERS, MAX_RESULT_WINDOW, MODES, SORTS

NULLABLE_STRING = {"type": ["string", "null"]}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def error_responses(*statuses: int) -> dict:
    descriptions = {400: "Invalid parameter: the message says what to fix", 404: "No such article",
                    503: "The index is missing or unreadable: run `indexer rebuild`"}
    return {str(status): {"description": descriptions[status],
                          "content": {"application/json": {"schema": ref("Error")}}} for status in statuses}


def json_response(description: str, schema: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


def parameter(name: str, schema: dict, description: str, required: bool = False, location: str = "query") -> dict:
    return {"name": name, "in": location, "required": required, "description": description, "schema": schema}


ARTICLE_ID = parameter("article_id", {"type": "string", "minLength": 1}, "Article id (may contain '/')", True, "path")


def document() -> dict:
    search_parameters = [
        parameter("q", {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARACTERS},
                  f"The query: words, \"phrases\", AND/OR/NOT, field:value (title, source), wildcards*, fuzzy~. "
                  f"Control characters are ignored; at most {MAX_QUERY_CHARACTERS} characters.", True),
        parameter("mode", {"type": "string", "enum": list(MODES), "default": "hybrid"}, "Which evidence ranks the results."),
        parameter("k", {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10}, "Results per page."),
        parameter("page", {"type": "integer", "minimum": 1, "default": 1},
                  f"1-based page; page × k may not exceed {MAX_RESULT_WINDOW}."),
        parameter("alpha", {"type": "number", "minimum": 0, "maximum": 1},
                  "Hybrid only: switch to convex fusion with this weight on meaning (0 keyword only, 1 meaning only)."),
        parameter("date_from", {"type": "string", "format": "date"}, "Earliest article date (inclusive), YYYY-MM-DD."),
        parameter("date_to", {"type": "string", "format": "date"}, "Latest article date (inclusive), YYYY-MM-DD."),
        parameter("source", {"type": "string"}, "Only articles from this source (case-insensitive)."),
        parameter("sort", {"type": "string", "enum": list(SORTS), "default": "relevance"}, "relevance, or date (newest first)."),
    ]
    leg = {"type": ["object", "null"], "required": ["rank", "score"], "additionalProperties": False,
           "properties": {"rank": {"type": "integer", "minimum": 1}, "score": {"type": "number"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "News archive API", "version": "1",
                 "description": "Hybrid keyword + semantic search over a news archive, with highlighted evidence. "
                                "Unknown query parameters are ignored."},
        "paths": {
            "/api/search": {"get": {
                "summary": "Search the archive", "operationId": "search", "parameters": search_parameters,
                "responses": {"200": json_response("Ranked articles with evidence", "SearchResponse"),
                              **error_responses(400, 503)}}},
            "/api/articles/{article_id}": {"get": {
                "summary": "One article", "operationId": "article", "parameters": [ARTICLE_ID],
                "responses": {"200": json_response("The cleaned article", "Article"), **error_responses(404, 503)}}},
            "/api/articles/{article_id}/similar": {"get": {
                "summary": "Articles similar in meaning", "operationId": "similar",
                "parameters": [ARTICLE_ID, parameter("k", {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 5}, "How many.")],
                "responses": {"200": json_response("Similar articles, this one excluded", "Similar"),
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
            "Passage": {"type": "object", "required": ["text", "html", "start", "end", "matched"], "additionalProperties": False,
                        "properties": {"text": {"type": "string"},
                                       "html": {"type": "string", "description": "Escaped text with <mark> (keyword) and <mark class=\"semantic\"> (closest sentence) marks"},
                                       "start": {"type": "integer", "minimum": 0}, "end": {"type": "integer", "minimum": 0},
                                       "matched": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": ["keyword", "semantic"]}}}},
            "Result": {"type": "object", "required": ["id", "title", "date", "source", "score", "explain", "passages"],
                       "additionalProperties": False, "properties": {
                           "id": {"type": "string"}, "title": {"type": "string"}, "date": NULLABLE_STRING,
                           "source": NULLABLE_STRING, "score": {"type": "number"},
                           "explain": {"type": "object", "required": ["keyword", "semantic"], "additionalProperties": False,
                                       "properties": {"keyword": leg, "semantic": leg}},
                           "passages": {"type": "array", "minItems": 1, "maxItems": 3, "items": ref("Passage")}}},
            "SearchResponse": {"type": "object", "additionalProperties": False,
                               "required": ["query", "mode", "k", "page", "total", "took_ms", "note", "suggestion", "results"],
                               "properties": {
                                   "query": {"type": "string"}, "mode": {"type": "string", "enum": list(MODES)},
                                   "k": {"type": "integer"}, "page": {"type": "integer"},
                                   "total": {"type": "integer", "minimum": 0,
                                             "description": "Distinct articles in the candidate pool that paging walks: "
                                                            "in hybrid mode, the union of both legs' top candidates."},
                                   "took_ms": {"type": "number"}, "note": NULLABLE_STRING, "suggestion": NULLABLE_STRING,
                                   "results": {"type": "array", "items": ref("Result")}}},
            "Article": {"type": "object", "additionalProperties": False,
                        "required": ["id", "title", "date", "source", "url", "text", "passages"], "properties": {
                            "id": {"type": "string"}, "title": {"type": "string"}, "date": NULLABLE_STRING,
                            "source": NULLABLE_STRING, "url": NULLABLE_STRING, "text": {"type": "string"},
                            "passages": {"type": "array", "items": {"type": "object", "required": ["start", "end"],
                                                                    "properties": {"start": {"type": "integer"}, "end": {"type": "integer"}}}}}},
            "Similar": {"type": "object", "additionalProperties": False, "required": ["id", "results"], "properties": {
                "id": {"type": "string"}, "results": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False, "required": ["id", "title", "date", "source", "score"],
                    "properties": {"id": {"type": "string"}, "title": {"type": "string"}, "date": NULLABLE_STRING,
                                   "source": NULLABLE_STRING, "score": {"type": "number"}}}}}},
            "Stats": {"type": "object", "additionalProperties": False, "required": [
                "generation", "created_at", "articles", "passages", "date_from", "date_to", "sources", "model",
                "dimension", "faiss_type", "corpus_path", "corpus_fingerprint"], "properties": {
                "generation": {"type": "string"}, "created_at": {"type": "string"}, "articles": {"type": "integer"},
                "passages": {"type": "integer"}, "date_from": NULLABLE_STRING, "date_to": NULLABLE_STRING,
                "sources": {"type": "array", "items": {"type": "object", "required": ["source", "articles"],
                                                       "properties": {"source": {"type": "string"}, "articles": {"type": "integer"}}}},
                "model": {"type": "string"}, "dimension": {"type": "integer"}, "faiss_type": {"type": "string"},
                "corpus_path": {"type": "string"}, "corpus_fingerprint": {"type": "string"}}},
            "Health": {"type": "object", "additionalProperties": False, "required": ["status", "generation", "index"], "properties": {
                "status": {"type": "string", "enum": ["ok"]}, "generation": NULLABLE_STRING,
                "index": {"type": "string", "description": "ready, or the error code that keeps the index from opening"}}},
        }},
    }
