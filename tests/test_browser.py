"""A person's path through the real site, in headless Chromium against the production server."""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT = ROOT / "docs" / "screenshot-results.png"
STORY_SCREENSHOT = ROOT / "docs" / "screenshot-story.png"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(seed_index):
    from bench.load import free_port, start_server

    port = free_port()
    process = start_server(seed_index, port)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("NO BROWSER: Debian's chromium is not installed (apt-get install chromium); "
                    "the real-browser test did not run")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        yield launched
        launched.close()


def test_search_read_evidence_open_article_at_passage_and_follow_more_like_this(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    console_errors = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    page.goto(server + "/")
    assert "5 articles" in page.inner_text(".holdings")

    page.fill("#q", "potash exports")
    page.keyboard.press("Enter")
    page.wait_for_selector(".hit")
    assert page.url.startswith(server + "/search?q=potash+exports")
    first = page.locator(".hit").first
    assert "A military attack on Ukraine is feared" in first.locator("h2").inner_text()
    assert first.locator(".passage mark:not(.semantic)").count() >= 2
    assert first.locator(".passage mark.semantic").count() >= 1
    assert "keyword #1" in first.locator(".why").inner_text()
    target = SCREENSHOT if os.environ.get("ARCHIVE_SAVE_SCREENSHOTS") else tmp_path / "results.png"
    page.screenshot(path=str(target), full_page=False)

    first.locator("h2 a").click()
    page.wait_for_selector("article.article")
    match = page.locator("mark.passage#match")
    assert match.count() == 1
    assert "potash fertilizers" in " ".join(page.locator("mark.passage").all_inner_texts())
    box = match.bounding_box()
    assert box is not None and 0 <= box["y"] < 900, "the matched passage is scrolled into view"
    assert page.evaluate("document.activeElement.id") == "match"

    similar = page.locator(".similar li a").first
    title = similar.inner_text()
    similar.click()
    page.wait_for_selector("article.article h1")
    assert page.locator("article.article h1").inner_text() == title
    assert console_errors == []  # in particular, no CSP violations
    page.close()


def focused(page) -> str:
    """What has keyboard focus, as a short description."""
    return page.evaluate("""() => { const e = document.activeElement;
        return e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '')
               + (e.value && e.type === 'radio' ? '=' + e.value : '') }""")


def test_keyboard_only_search_works_without_javascript(server, browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(server + "/")
    assert focused(page) == "input#q"  # autofocus: type at once
    page.keyboard.type("fertilizer trade halted")
    page.keyboard.press("Tab")
    assert focused(page) == "button"
    page.keyboard.press("Tab")
    assert focused(page) == "input=hybrid"  # the checked mode
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert focused(page) == "input=semantic" and page.is_checked("input[name=mode][value=semantic]")
    page.keyboard.press("Shift+Tab")
    assert focused(page) == "button"
    page.keyboard.press("Enter")
    page.wait_for_selector(".hit")
    assert "mode=semantic" in page.url
    assert page.locator(".hit mark.semantic").count() >= 1
    # On the results page the first Tab reaches the skip link, which jumps past the header.
    page.keyboard.press("Tab")
    assert focused(page) == "a.skip"
    assert page.locator("a.skip").bounding_box()["x"] >= 0  # shown when focused
    page.keyboard.press("Enter")
    assert page.url.endswith("#main") and focused(page) == "main#main"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('p.matching') !== null")  # coverage of these words
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('.hit h2') !== null")  # the first result's title
    context.close()


def test_results_page_fits_a_phone_and_keeps_the_side_column(server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    page = context.new_page()
    page.goto(server + "/search?q=Putin+Belarus&source=Nowhere+Daily")
    assert page.locator(".hit").count() == 0 and page.locator(".empty").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing scrolls sideways
    results, side = page.locator("section.results").bounding_box(), page.locator("aside.side").bounding_box()
    assert side["y"] >= results["y"] + results["height"] - 1  # the side column moves below the results
    assert side["width"] > 300
    page.fill("aside.side input[name=source]", "")
    page.click("aside.side button[type=submit]")
    page.wait_for_selector(".hit")
    assert page.locator(".hit").count() == 1  # without the filter: the one story every article tells
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


def test_a_story_opens_its_other_versions_without_javascript(server, browser, tmp_path):
    context = browser.new_context(viewport={"width": 1200, "height": 1000}, java_script_enabled=False)
    page = context.new_page()
    page.goto(server + "/search?q=Putin+Belarus")
    results, side = page.locator("section.results").bounding_box(), page.locator("aside.side").bounding_box()
    assert side["x"] > results["x"] + results["width"] and abs(side["y"] - results["y"]) < 40  # beside the results
    versions = page.locator(".hit details.versions")
    assert "4 other versions" in versions.locator("summary").inner_text()
    assert not versions.locator("ul").is_visible()
    versions.locator("summary").click()
    assert versions.locator("ul").is_visible() and versions.locator("li").count() == 4
    assert page.locator(".timeline rect").count() == 1  # the story, dated by its one dated version
    target = STORY_SCREENSHOT if os.environ.get("ARCHIVE_SAVE_SCREENSHOTS") else tmp_path / "story.png"
    page.screenshot(path=str(target), full_page=False)
    title = versions.locator("li a").first.inner_text()
    versions.locator("li a").first.click()
    page.wait_for_selector("#coverage")
    assert page.locator("article.article h1").inner_text() == title
    assert page.locator("#coverage li").count() == 5  # the story's timeline: its five versions, this one too
    assert page.locator("#coverage li.here").count() == 1 and page.locator("#coverage li.here a").count() == 0
    assert page.locator("mark.claim").count() >= 1
    page.locator(".also a").first.click()
    page.wait_for_selector("mark.passage#match")
    assert page.locator("mark.passage#match").bounding_box()["y"] < 1000  # opened at the matching sentence
    context.close()


def axe_violations(page) -> list[str]:
    """axe-core's violations on the page, as "rule: nodes" lines (axe-playwright-python bundles axe)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{violation['id']}: {[node['target'] for node in violation['nodes']][:3]}"
            for violation in results.response["violations"]]


def test_coverage_from_a_results_page_compare_switch_scale_and_download_with_no_axe_violations(server, browser):
    context = browser.new_context(viewport={"width": 1200, "height": 1000})
    page = context.new_page()
    console_errors = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    page.goto(server + "/search?q=Minsk")
    link = page.locator("p.matching a")
    assert "5 articles in the archive (1 story) match these words" in page.inner_text("p.matching")
    link.click()
    page.wait_for_selector("svg.chart")
    assert page.url == server + "/coverage?q=Minsk"
    assert "“Minsk”: 5 articles (1 story)" in page.inner_text(".coverage-totals")
    # A second query, typed into the next empty box, from the keyboard.
    page.locator("input[name=q]").nth(1).fill("Lukashenko")
    page.select_option("select[name=interval]", "day")
    page.locator("input[name=q]").nth(1).press("Enter")
    page.wait_for_selector("svg.chart")
    assert "q=Minsk&q=Lukashenko" in page.url
    assert page.locator("svg.chart g.series").count() == 2
    assert page.locator(".coverage-query").count() == 2 and page.locator(".coverage-sample li").count() >= 1
    assert axe_violations(page) == []
    page.click("text=number of articles")
    page.wait_for_selector("strong[aria-current=true]")
    assert "scale=count" in page.url and page.inner_text("strong[aria-current=true]") == "number of articles"
    with page.expect_download() as download:
        page.click("text=Download the counts (CSV)")
    assert download.value.suggested_filename == "coverage.csv"
    with page.expect_download() as exported:
        page.locator(".coverage-query").first.locator("text=JSON Lines").click()
    assert exported.value.suggested_filename == "articles.jsonl"
    page.locator("summary", has_text="The chart's numbers").click()
    assert page.locator(".chart-data tbody tr").count() >= 2
    assert axe_violations(page) == []
    assert console_errors == []
    context.close()


def test_coverage_fits_a_phone_and_works_without_javascript(server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    page = context.new_page()
    page.goto(server + "/coverage")
    page.fill("input[name=q] >> nth=0", "Putin")
    page.click("button[type=submit]")
    page.wait_for_selector("svg.chart")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the wide table scrolls in its own box
    assert page.locator("svg.chart").bounding_box()["width"] <= 390
    context.close()
    checked = browser.new_context(viewport={"width": 390, "height": 844})
    page = checked.new_page()
    page.goto(server + "/coverage?q=Putin&q=potash")
    assert axe_violations(page) == []
    checked.close()


def test_a_results_page_offers_its_feed_and_an_article_its_story_feed(server, browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.goto(server + "/search?q=Putin+Belarus")
    alternate = page.locator('head link[rel=alternate][type="application/atom+xml"]')
    assert alternate.count() == 1
    feed_url = alternate.get_attribute("href")
    assert page.locator("p.follow a").get_attribute("href") == feed_url
    answered = page.request.get(server + feed_url)
    assert answered.status == 200 and answered.headers["content-type"].startswith("application/atom+xml")
    assert "<feed" in answered.text() and answered.headers["etag"]
    page.locator(".hit h2 a").first.click()
    page.wait_for_selector("#coverage")
    story_link = page.locator("#coverage p.follow a")
    assert story_link.inner_text() == "Follow this story"
    with page.expect_response(lambda response: response.url.endswith(".atom")) as opened:
        story_link.click()
    response = opened.value
    assert response.status == 200 and response.headers["content-type"].startswith("application/atom+xml")
    assert response.text().count("<entry>") == 5
    context.close()
