"""Readers of the packaged training data, on small literal inputs and on the real assets."""

import pytest

from distilkit.errors import DistilkitError
from distilkit.models.data import parse_bio, parse_snippets, rotten_tomatoes, split, vader_snippets, wnut_ner


def test_movie_snippets_are_labelled_by_sign_and_zeros_dropped():
    text = "1\t2.27\tThe Rock is destined\r\n2\t-0.6\tEffective but too tepid biopic\r\n3\t0.0\tNeutral\r\n"
    assert parse_snippets(text) == [("The Rock is destined", 1), ("Effective but too tepid biopic", 0)]
    assert parse_snippets(text, min_valence=1.0) == [("The Rock is destined", 1)]
    with pytest.raises(DistilkitError, match="line 1"):
        parse_snippets("garbage")


def test_the_other_vader_sets_are_readable():
    tweets = vader_snippets("tweets")
    assert len(tweets) == 4196 and {label for _, label in tweets} == {0, 1}
    assert len(vader_snippets("amazon", min_valence=0.5)) < len(vader_snippets("amazon"))
    with pytest.raises(DistilkitError, match="'imdb'"):
        vader_snippets("imdb")


def test_bio_sentences():
    text = "Empire\tB-facility\nState\tI-facility\n.\tO\n\t\nhi\tO\n"
    assert parse_bio(text) == [(["Empire", "State", "."], ["B-facility", "I-facility", "O"]), (["hi"], ["O"])]
    with pytest.raises(DistilkitError, match="line 1"):
        parse_bio("word\tPERSON\n")


def test_split_is_fixed_and_complete():
    items = list(range(100))
    test, train = split(items, [0.1], seed=13)
    assert len(test) == 10 and sorted(test + train) == items
    assert split(items, [0.1], seed=13) == [test, train]
    assert split(items, [0.1], seed=14)[0] != test


def test_real_rotten_tomatoes():
    examples = rotten_tomatoes()
    assert len(examples) == 10_605 - 37  # 37 sentences have a mean valence of exactly 0
    positives = sum(label for _, label in examples)
    assert positives == 5242
    assert examples[0][0].startswith("The Rock is destined")


def test_real_wnut():
    sentences = wnut_ner()
    assert len(sentences) == 2394
    tags = {tag for _, sentence_tags in sentences for tag in sentence_tags}
    assert len({tag[2:] for tag in tags if tag != "O"}) == 10
