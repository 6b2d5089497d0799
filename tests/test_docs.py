"""The README documents everything a user can call (the sqlite-utils way): every `indexer`
command and search option, and every route of the site and the JSON API."""

from __future__ import annotations

import re

from conftest import ROOT

from archive import CoverageRequest, SearchRequest
from indexer.cli import main

README = (ROOT / "README.md").read_text()


def test_every_indexer_command_is_in_the_readme():
    missing = [name for name in main.commands if f"indexer {name}" not in README]
    assert missing == []


def test_every_search_option_is_in_the_readme():
    flags = [flag for spec in SearchRequest.parameters() + CoverageRequest.parameters() for flag in spec.flags]
    assert [flag for flag in flags if not re.search(rf"\[{re.escape(flag)}\b", README)] == []


def test_every_route_is_in_the_readme(app):
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule.rule) for rule in app.url_map.iter_rules()
              if rule.endpoint != "static"}
    assert routes == {"/", "/search", "/articles/<article_id>", "/api/search", "/api/articles/<article_id>",
                      "/api/articles/<article_id>/similar", "/api/stats", "/healthz", "/api/openapi.json",
                      "/coverage", "/api/coverage", "/api/coverage.csv", "/api/export", "/search.atom",
                      "/stories/<story_id>.atom"}
    missing = [route for route in sorted(routes) if f"`{route}`" not in README and f"`{route}?" not in README]
    assert missing == []
