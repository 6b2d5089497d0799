"""Marks as spans, and the well-nested events every edge renders (pure logic, no index)."""

import numpy as np

from archive.search.highlight import Event, Mark, events, paragraphs, semantic_marks, snippets, window


def render(text, marks):
    """A plain rendering of the events, to read nesting at a glance."""
    out, stack = [], []
    for event in events(text, marks):
        if event.opens:
            stack.append(event.opens)
            out.append(f"<{event.opens}>")
        elif event.closes:
            out.append(f"</{stack.pop()}>")
        else:
            out.append(event.text)
    assert not stack
    return "".join(out)


def test_events_cover_the_text_exactly():
    text = "First sentence. Potash exports fell. Last one."
    marks = [Mark(16, 22, "keyword"), Mark(16, 36, "semantic")]
    assert "".join(event.text for event in events(text, marks)) == text


def test_a_sentence_mark_wraps_the_word_marks_inside_it():
    text = "First sentence. Potash exports fell. Last one."
    assert render(text, [Mark(16, 22, "keyword"), Mark(16, 36, "semantic")]) == \
        "First sentence. <semantic><keyword>Potash</keyword> exports fell.</semantic> Last one."


def test_a_word_mark_that_crosses_a_sentence_edge_is_split_not_lost():
    assert render("ab c def", [Mark(2, 5, "keyword"), Mark(4, 7, "semantic")]) == \
        "ab<keyword> c</keyword><semantic><keyword> </keyword>de</semantic>f"


def test_overlapping_marks_of_one_kind_merge_and_bad_spans_are_dropped():
    assert render("abcdef", [Mark(0, 3, "keyword"), Mark(2, 4, "keyword"), Mark(5, 5, "keyword"), Mark(4, 99, "semantic")]) \
        == "<keyword>abcd</keyword><semantic>ef</semantic>"


def test_first_marks_the_first_piece_of_a_split_mark():
    opened = [event for event in events("abcdef", [Mark(0, 6, "semantic"), Mark(2, 4, "passage")]) if event.opens]
    assert [(event.opens, event.first) for event in opened] == [
        ("semantic", True), ("passage", True), ("semantic", False), ("semantic", False)]
    assert Event(text="x").opens is None


def test_paragraphs_and_snippets_keep_their_marks_relative_to_the_piece():
    text = "One para.\n\nTwo has potash.\n\nThree."
    marks = [Mark(19, 25, "keyword")]
    pieces = paragraphs(text, marks)
    assert [piece.text for piece in pieces] == ["One para.", "Two has potash.", "Three."]
    assert pieces[1].marks == (Mark(8, 14, "keyword"),)
    assert [piece.text for piece in snippets(text, marks)] == ["Two has potash."]
    assert [piece.text for piece in snippets(text, [])] == ["One para."]  # nothing marked: the opening


def test_window_cuts_at_spaces_near_the_first_mark_and_never_inside_a_mark():
    text = " ".join(f"word{number}" for number in range(200)) + " potash " + " ".join("filler" for _ in range(200))
    start = text.index("potash")
    piece = window(text, [Mark(start, start + 6, "keyword")], characters=100)
    assert piece.cut_before and piece.cut_after
    assert piece.text.startswith("word") and not piece.text.endswith(" ")
    (mark,) = piece.marks
    assert piece.text[mark.start : mark.end] == "potash"
    straddling = window("alpha beta gamma delta", [Mark(6, 16, "semantic")], characters=8)
    assert straddling.text == "alpha beta" and straddling.marks == (Mark(6, 10, "semantic"),)
    unspaced = window("北京" * 400, [Mark(2, 4, "keyword")], characters=100)  # no spaces at all: cut at the count
    assert len(unspaced.text) == 100 and unspaced.cut_after


def test_semantic_marks_take_at_most_two_close_sentences_above_the_floor():
    spans = np.array([[0, 5], [6, 10], [11, 15], [16, 20]], dtype=np.int32)
    vectors = np.array([[1, 0], [0.96, 0.28], [0.95, 0.31], [0, 1]], dtype=np.float16)
    towards_first = np.array([1.0, 0.0])
    assert semantic_marks(spans, vectors, towards_first, margin=0.05, floor=0.25) == [
        Mark(0, 5, "semantic"), Mark(6, 10, "semantic")]  # 1.0 and 0.96; 0.95 would be a third
    assert semantic_marks(spans, vectors, np.array([0.0, 1.0]), margin=0.05, floor=0.25) == [Mark(16, 20, "semantic")]
    assert semantic_marks(spans, vectors, np.array([-1.0, -1.0]), margin=0.05, floor=0.25) == []
    weak = np.array([[0.2, 0.98]], dtype=np.float16)
    assert semantic_marks(spans[:1], weak, towards_first, margin=0.05, floor=0.25) == []  # best, but below the floor
