import numpy as np

from archive.highlight import render, semantic_spans
from archive.keyword import text_analyzer
from archive.highlight import keyword_spans


def test_text_is_escaped_before_marks_are_added():
    text = '<script>alert("x")</script> potash & <b>exports</b>'
    spans = keyword_spans(text, {"potash", "export"}, text_analyzer())
    html = render(text, spans, [])
    assert html == '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; <mark>potash</mark> &amp; &lt;b&gt;<mark>exports</mark>&lt;/b&gt;'


def test_semantic_sentence_mark_wraps_keyword_marks_and_nests_cleanly():
    text = "First sentence. Potash exports fell. Last one."
    html = render(text, [(16, 22)], [(16, 36)])
    assert html == 'First sentence. <mark class="semantic"><mark>Potash</mark> exports fell.</mark> Last one.'


def test_keyword_mark_straddling_a_sentence_edge_is_clipped():
    html = render("abc def", [(2, 5)], [(4, 7)])
    assert html == 'ab<mark>c </mark><mark class="semantic">def</mark>'


def test_semantic_spans_pick_the_closest_sentence_and_a_close_runner_up():
    spans = np.array([[0, 5], [6, 10], [11, 15]], dtype=np.int32)
    vectors = np.array([[1, 0], [0.96, 0.28], [0, 1]], dtype=np.float16)
    assert semantic_spans(spans, vectors, np.array([0.0, 1.0])) == [(11, 15)]
    assert semantic_spans(spans, vectors, np.array([1.0, 0.0])) == [(0, 5), (6, 10)]  # 1.0 and 0.96
    assert semantic_spans(spans, vectors, np.array([-1.0, -1.0])) == []
