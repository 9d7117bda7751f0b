"""Query words against text read in photos: exact, fuzzy (OCR slips), joined words, ranking."""

from __future__ import annotations

import pytest

from engine.text_match import TextIndex, query_words, text_score, word_similarity


def test_query_words_drop_stop_words_single_letters_and_repeats():
    assert query_words("A photo of the Bakery on Main street, bakery!") == ["bakery", "main", "street"]


def test_exact_match_is_case_and_accent_insensitive():
    assert text_score("café", "CAFE OUVERT").score == 1.0
    assert text_score("Harbour", "harbour street").words == ("harbour",)


@pytest.mark.parametrize(
    ("query", "read", "expected"),
    [
        ("bakery", "BAKERV", 1 - 1 / 6),  # one letter misread
        ("open", "0PEN", 0.75),  # O read as zero
        ("restaurant", "RESTAURAMT", 0.9),
        ("restaurant", "RESTAVRAMT", 0.8),  # two slips in a long word still match
    ],
)
def test_ocr_slips_still_match_at_a_lower_score(query, read, expected):
    assert word_similarity(query, read.lower()) == pytest.approx(expected)


def test_too_many_edits_or_short_words_do_not_match():
    assert word_similarity("bus", "bun") == 0.0  # short words must match exactly
    assert word_similarity("bakery", "battery") == 0.0  # two edits in a six-letter word: another word
    assert text_score("museum", "station platform").score == 0.0


def test_a_query_word_inside_joined_words_matches():
    assert text_score("bread", "FRESHBREAD DAILY").score == pytest.approx(0.9)


def test_score_is_the_share_of_query_words_found():
    index = TextIndex({"sign": "Harbour Street", "menu": "Street food", "none": "Museum"})
    found = index.match("harbour street")
    assert found["sign"].score == 1.0
    assert found["menu"].score == 0.5
    assert "none" not in found
