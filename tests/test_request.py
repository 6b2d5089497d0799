"""SearchRequest is the one source of the search parameters: the CLI, the web and the OpenAPI
description agree with it, parameter by parameter (pure logic, no index)."""

from __future__ import annotations

import click
import pytest

from archive import InvalidParameterError, ResultWindowError, SearchRequest
from indexer.cli import main
from web.openapi import document


def cli_parameters() -> dict[str, click.Parameter]:
    command = main.commands["search"]
    return {parameter.name: parameter for parameter in command.params
            if parameter.name not in ("index_dir", "as_json", "help", "backend", "milvus_uri", "output_format", "base_url")}


def openapi_parameters() -> dict[str, dict]:
    return {parameter["name"]: parameter for parameter in document()["paths"]["/api/search"]["get"]["parameters"]
            if parameter["in"] == "query"}  # (the If-None-Match and If-Modified-Since headers are HTTP's, not the search's)


def test_the_cli_has_one_option_per_parameter_with_its_default_and_choices():
    options = cli_parameters()
    specs = SearchRequest.parameters()
    assert list(options) == [spec.name for spec in specs]
    for spec in specs:
        option = options[spec.name]
        if spec.required:
            assert isinstance(option, click.Argument) and option.required
            continue
        assert option.opts == list(spec.flags)
        assert option.default == spec.default, spec.name
        if spec.choices:
            assert tuple(option.type.choices) == spec.choices
        assert option.help == spec.description


def test_the_openapi_description_has_one_parameter_per_field_with_its_limits():
    described = openapi_parameters()
    specs = SearchRequest.parameters()
    assert list(described) == [spec.url_name for spec in specs]
    for spec in specs:
        schema = described[spec.url_name]["schema"]
        assert described[spec.url_name]["required"] == spec.required
        assert schema.get("default") == spec.default
        assert schema.get("enum") == (list(spec.choices) if spec.choices else None)
        assert schema.get("minimum") == spec.minimum and schema.get("maximum") == spec.maximum
        assert schema.get("maxLength") == spec.max_length and schema.get("pattern") == spec.pattern
        assert schema["type"] == {str: "string", int: "integer", float: "number"}[spec.kind]
        assert described[spec.url_name]["description"] == spec.description


def test_the_web_reads_each_parameter_by_its_url_name_with_the_same_defaults():
    defaults = SearchRequest.from_text({"q": "potash"})
    assert defaults == SearchRequest(query="potash")
    for spec in SearchRequest.parameters():
        assert getattr(defaults, spec.name) == (spec.default if not spec.required else "potash")
    given = SearchRequest.from_text({"q": "potash", "mode": "keyword", "k": "5", "page": "2", "alpha": "0.3",
                                     "date_from": "2022-01-01", "date_to": "2022-12-31", "source": "Reuters",
                                     "sort": "date"})
    assert given == SearchRequest("potash", mode="keyword", k=5, page=2, alpha=0.3, date_from="2022-01-01",
                                  date_to="2022-12-31", source="Reuters", sort="date")


def test_the_cli_and_the_web_give_the_same_request_for_the_same_values():
    values = {"mode": "semantic", "k": "7", "page": "3", "alpha": "0.8", "date_from": "2021-05-01",
              "date_to": "2021-06-01", "source": "AP", "sort": "relevance"}
    flags = {spec.name: spec.flags[0] for spec in SearchRequest.parameters() if spec.flags}
    arguments = ["potash"] + [item for name, value in values.items() for item in (flags[name], value)]
    context = main.commands["search"].make_context("search", arguments)
    from_cli = SearchRequest(**{name: value for name, value in context.params.items()
                                if name not in ("index_dir", "as_json", "backend", "milvus_uri", "output_format",
                                                "base_url")})
    assert from_cli == SearchRequest.from_text({"q": "potash", **values})


@pytest.mark.parametrize("values,message", [
    ({}, "the q parameter is required"),
    ({"q": "a", "k": "ten"}, "k must be a whole number, not 'ten'"),
    ({"q": "a", "alpha": "inf"}, "alpha must be a number, not 'inf'"),
    ({"q": "a", "alpha": "1.5"}, "alpha must be a number from 0 (keyword only) to 1 (semantic only)"),
    ({"q": "a", "k": "1_0"}, "k must be a whole number, not '1_0'"),
    ({"q": "a", "k": "٥"}, "k must be a whole number, not '٥'"),
    ({"q": "a", "k": " 5"}, "k must be a whole number, not ' 5'"),
    ({"q": "a", "alpha": "nan"}, "alpha must be a number, not 'nan'"),
    ({"q": "a", "page": "1001"}, "page must be a whole number from 1 to 1000"),
])
def test_text_values_are_checked_with_messages_that_say_what_to_fix(values, message):
    with pytest.raises(InvalidParameterError) as caught:
        SearchRequest.from_text(values)
    assert caught.value.message == message


def test_cross_parameter_rules_are_explicit():
    with pytest.raises(ResultWindowError):
        SearchRequest.from_text({"q": "a", "k": "100", "page": "11"})
    assert SearchRequest.from_text({"q": "a", "k": "100", "page": "10"}).page == 10
    description = document()["paths"]["/api/search"]["get"]["responses"]["400"]["description"]
    assert ResultWindowError.code in description and "date_from may not be after date_to" in description
