import pytest

from archive.search.fusion import convex_combination, min_max_normalise, rank, reciprocal_rank_fusion


def test_rrf_sums_reciprocal_ranks():
    fused = reciprocal_rank_fusion({"keyword": ["a", "b"], "semantic": ["b", "c"]}, k=60)
    assert fused == pytest.approx({"a": 1 / 61, "b": 1 / 62 + 1 / 61, "c": 1 / 62})
    assert rank(fused) == ["b", "a", "c"]


def test_rrf_weights_and_empty_lists():
    fused = reciprocal_rank_fusion({"keyword": ["a"], "semantic": []}, k=0, weights={"keyword": 2.0})
    assert fused == {"a": 2.0}
    with pytest.raises(ValueError):
        reciprocal_rank_fusion({"keyword": ["a"]}, k=-1)


def test_min_max_normalise():
    assert min_max_normalise({"a": 2.0, "b": 4.0, "c": 3.0}) == {"a": 0.0, "b": 1.0, "c": 0.5}
    assert min_max_normalise({"a": 5.0}) == {"a": 1.0}
    assert min_max_normalise({}) == {}


def test_convex_combination_weights_and_missing_documents():
    fused = convex_combination({"a": 10.0, "b": 0.0}, {"b": 0.9, "c": 0.1}, alpha=0.25)
    assert fused == pytest.approx({"a": 0.75, "b": 0.25, "c": 0.0})
    assert convex_combination({"a": 1.0, "b": 0.0}, {"b": 1.0, "a": 0.0}, alpha=1.0) == {"a": 0.0, "b": 1.0}
    with pytest.raises(ValueError):
        convex_combination({}, {}, alpha=1.5)


def test_rank_breaks_ties_deterministically():
    assert rank({"b": 1.0, "a": 1.0, "c": 2.0}) == ["c", "a", "b"]
