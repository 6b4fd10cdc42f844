"""Collators: dynamic padding (against the reference's collators), MLM masking rules and rates, label alignment,
QA span labels over doc_stride windows, multiple-choice flattening, label dtypes, and bad input."""

import pytest
import torch
import transformers
from training_fixtures import (
    one_torch_thread,  # noqa: F401 (autouse fixture)
    qa_examples,
    tokenizer,
    write_vocab,
)

from distilkit.errors import InputError
from distilkit.training import (
    DataCollatorForLanguageModeling,
    DataCollatorForMultipleChoice,
    DataCollatorForQuestionAnswering,
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    align_labels_with_tokens,
    default_data_collator,
    postprocess_question_answering,
    prepare_question_answering_features,
)


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return tokenizer(tmp_path_factory.mktemp("vocab"))


@pytest.fixture(scope="module")
def reference_tok(tmp_path_factory):
    directory = write_vocab(tmp_path_factory.mktemp("reference_vocab"))
    return transformers.DistilBertTokenizerFast.from_pretrained(str(directory))


def features(tok, texts, labels):
    encoded = tok(texts)
    return [{"input_ids": encoded["input_ids"][i], "attention_mask": encoded["attention_mask"][i], "label": label}
            for i, label in enumerate(labels)]


# -- padding ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("multiple", [None, 8])
def test_padding_matches_the_reference_collator(tok, reference_tok, multiple):
    texts = ["the movie was good .", "bad", "john lives in paris and works at google ."]
    ours = DataCollatorWithPadding(tok, pad_to_multiple_of=multiple)(features(tok, texts, [1, 0, 1]))
    theirs = transformers.DataCollatorWithPadding(reference_tok, pad_to_multiple_of=multiple)(
        features(reference_tok, texts, [1, 0, 1]))
    assert set(ours) == {"input_ids", "attention_mask", "labels"}
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key
    assert ours["labels"].dtype == torch.long
    longest = max(len(ids) for ids in tok(texts)["input_ids"])
    assert ours["input_ids"].shape[1] == (longest if multiple is None else -(-longest // multiple) * multiple)


def test_label_dtypes_follow_the_problem_type(tok):
    collate = DataCollatorWithPadding(tok)
    regression = collate(features(tok, ["good", "bad ."], [0.5, -1.0]))["labels"]
    assert regression.dtype == torch.float32 and regression.tolist() == [0.5, -1.0]
    multi_label = collate(features(tok, ["good", "bad ."], [[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]))["labels"]
    assert multi_label.dtype == torch.float32 and multi_label.shape == (2, 3)
    classes = collate(features(tok, ["good", "bad ."], [2, 0]))["labels"]
    assert classes.dtype == torch.long and classes.tolist() == [2, 0]


def test_default_collator_stacks_and_refuses_ragged_features():
    batch = default_data_collator([{"input_ids": [2, 5, 3], "label": 1, "text": "x"},
                                   {"input_ids": [2, 6, 3], "label": 0, "text": "y"}])
    assert set(batch) == {"input_ids", "labels"}  # strings are left out
    assert batch["input_ids"].tolist() == [[2, 5, 3], [2, 6, 3]]
    with pytest.raises(InputError, match="DataCollatorWithPadding"):
        default_data_collator([{"input_ids": [2, 5, 3]}, {"input_ids": [2, 3]}])
    with pytest.raises(InputError, match="non-empty list"):
        default_data_collator([])


# -- masked LM --------------------------------------------------------------------------------------------------

def test_mlm_masks_15_percent_with_80_10_10_and_never_special_tokens(tok):
    texts = ["the movie was good and the plot was fun , john read the book in paris ."] * 64 + ["a"] * 64
    encoded = tok(texts)
    collate = DataCollatorForLanguageModeling(tok)
    torch.manual_seed(0)
    batch = collate([{"input_ids": ids} for ids in encoded["input_ids"]])
    original = DataCollatorWithPadding(tok)([{"input_ids": ids} for ids in encoded["input_ids"]])["input_ids"]
    special = torch.isin(original, torch.tensor(tok.all_special_ids))
    chosen = batch["labels"] != -100

    assert not (chosen & special).any()  # [CLS], [SEP] and padding are never targets
    assert torch.equal(batch["labels"][chosen], original[chosen])
    assert torch.equal(batch["input_ids"][~chosen], original[~chosen])
    assert abs(chosen.sum().item() / (~special).sum().item() - 0.15) < 0.02
    masked = (batch["input_ids"] == tok.mask_token_id) & chosen
    unchanged = (batch["input_ids"] == original) & chosen
    randomized = chosen & ~masked & ~unchanged
    total = chosen.sum().item()
    assert abs(masked.sum().item() / total - 0.8) < 0.05
    # a random replacement can draw the original token; either way ~10% random and ~10% kept
    assert abs(randomized.sum().item() / total - 0.1) < 0.04
    assert abs(unchanged.sum().item() / total - 0.1) < 0.04

    torch.manual_seed(0)
    again = collate([{"input_ids": ids} for ids in encoded["input_ids"]])
    assert torch.equal(again["input_ids"], batch["input_ids"])  # the global RNG decides, so seeding reproduces


def test_mlm_respects_a_given_special_tokens_mask_and_causal_mode(tok):
    encoded = tok(["the movie was good"] * 200, return_special_tokens_mask=True)
    rows = [{"input_ids": ids, "special_tokens_mask": [1] * len(ids)} for ids in encoded["input_ids"]]
    batch = DataCollatorForLanguageModeling(tok)(rows)
    assert (batch["labels"] == -100).all() and "special_tokens_mask" not in batch

    causal = DataCollatorForLanguageModeling(tok, mlm=False)([{"input_ids": [2, 10, 3]}, {"input_ids": [2, 3]}])
    assert causal["labels"].tolist() == [[2, 10, 3], [2, 3, -100]]


def test_mlm_rejects_bad_settings(tok):
    with pytest.raises(InputError, match="mlm_probability"):
        DataCollatorForLanguageModeling(tok, mlm_probability=1.5)
    with pytest.raises(InputError, match="<= 1"):
        DataCollatorForLanguageModeling(tok, mask_replace_prob=0.9, random_replace_prob=0.2)

    class NoMask:
        mask_token_id = None

    with pytest.raises(InputError, match="mask token"):
        DataCollatorForLanguageModeling(NoMask())


# -- token classification ---------------------------------------------------------------------------------------

def test_alignment_labels_first_subtoken_or_all():
    word_ids = [None, 0, 0, 0, 1, 2, None]
    assert align_labels_with_tokens(word_ids, [5, 6, 7]) == [-100, 5, -100, -100, 6, 7, -100]
    assert align_labels_with_tokens(word_ids, [5, 6, 7], label_all_tokens=True) == [-100, 5, 5, 5, 6, 7, -100]
    with pytest.raises(InputError, match="one label per word"):
        align_labels_with_tokens(word_ids, [5, 6])


@pytest.mark.parametrize("label_all_tokens", [False, True])
def test_token_collator_tokenizes_raw_words_and_aligns(tok, label_all_tokens):
    collate = DataCollatorForTokenClassification(tok, label_all_tokens=label_all_tokens,
                                                 label2id={"O": 0, "B-PER": 1, "B-LOC": 3})
    batch = collate([{"tokens": ["unbelievable", "john"], "labels": ["O", "B-PER"]},
                     {"tokens": ["paris"], "labels": ["B-LOC"]}])
    # [CLS] un ##believ ##able john [SEP] / [CLS] paris [SEP] + padding
    inner = [0, 0] if label_all_tokens else [-100, -100]
    assert batch["labels"].tolist() == [[-100, 0, *inner, 1, -100], [-100, 3, -100, -100, -100, -100]]
    assert batch["attention_mask"].tolist()[1] == [1, 1, 1, 0, 0, 0]


def test_token_collator_pads_aligned_labels_like_the_reference(tok, reference_tok):
    rows = [{"input_ids": [2, 10, 11, 3], "labels": [-100, 1, 2, -100]}, {"input_ids": [2, 3], "labels": [-100, -100]}]
    ours = DataCollatorForTokenClassification(tok)([dict(row) for row in rows])
    theirs = transformers.DataCollatorForTokenClassification(reference_tok)([dict(row) for row in rows])
    for key in ("input_ids", "attention_mask", "labels"):
        assert torch.equal(ours[key], theirs[key]), key


def test_token_collator_bad_input(tok):
    collate = DataCollatorForTokenClassification(tok)
    with pytest.raises(InputError, match="2 words but 1 labels"):
        collate([{"tokens": ["john", "paris"], "labels": [1]}])
    with pytest.raises(InputError, match="label2id"):
        collate([{"tokens": ["john"], "labels": ["B-PER"]}])
    with pytest.raises(InputError, match="input_ids' or raw words"):
        collate([{"words": ["john"]}])


# -- question answering -----------------------------------------------------------------------------------------

def test_qa_labels_point_at_the_answer_in_every_window_that_holds_it(tok):
    context = "the sky is blue . " * 6 + "john lives in paris . " + "the grass is green . " * 6
    example = {"question": "  where does john live ?", "context": context,
               "answers": {"text": ["paris"], "answer_start": [context.index("paris")]}}
    found = prepare_question_answering_features([example], tok, max_length=24, doc_stride=8)
    assert len(found) > 3  # the context overflows into several overlapping windows
    holding = 0
    for feature in found:
        start, end = feature["start_positions"], feature["end_positions"]
        in_window = any(offset is not None and context[offset[0]:offset[1]] == "paris"
                        for offset in feature["offset_mapping"])
        if in_window:
            holding += 1
            assert tok.decode(feature["input_ids"][start:end + 1]) == "paris"
            assert feature["offset_mapping"][start][0] == context.index("paris")
        else:
            assert start == end == 0 and feature["input_ids"][0] == tok.cls_token_id
    assert holding >= 2  # doc_stride overlap puts the answer in more than one window
    question = tok("where does john live ?", add_special_tokens=False)["input_ids"]
    assert found[0]["input_ids"][1:len(question) + 2] == [*question, tok.sep_token_id]


def test_qa_collator_batches_windows_and_postprocessing_recovers_answers(tok):
    examples = qa_examples(5)
    collate = DataCollatorForQuestionAnswering(tok, max_length=64, doc_stride=16)
    batch = collate(examples)
    assert set(batch) == {"input_ids", "attention_mask", "start_positions", "end_positions"}
    prepared = prepare_question_answering_features(examples, tok, max_length=64, doc_stride=16)
    length = batch["input_ids"].shape[1]
    one_hot = torch.nn.functional.one_hot
    start_logits = one_hot(batch["start_positions"], length).float().numpy()
    end_logits = one_hot(batch["end_positions"], length).float().numpy()
    answers = postprocess_question_answering(examples, prepared, start_logits, end_logits)
    assert answers == [example["answers"]["text"][0] for example in examples]


def test_qa_rejects_misplaced_answers(tok):
    bad = {"question": "what ?", "context": "the sky is blue", "answers": {"text": ["blue"], "answer_start": [3]}}
    with pytest.raises(InputError, match="not at character 3"):
        prepare_question_answering_features([bad], tok)
    with pytest.raises(InputError, match="SQuAD format"):
        prepare_question_answering_features([{**bad, "answers": "blue"}], tok)


def test_unanswerable_questions_point_at_cls(tok):
    example = {"question": "what ?", "context": "the sky is blue", "answers": {"text": [], "answer_start": []}}
    (feature,) = prepare_question_answering_features([example], tok)
    assert feature["start_positions"] == feature["end_positions"] == 0


# -- multiple choice --------------------------------------------------------------------------------------------

def test_multiple_choice_flattens_pairs_and_reshapes(tok):
    examples = [{"context": "the sky is", "choices": ["blue", "green", "red"], "label": 0},
                {"context": "the grass is", "choices": ["red", "green", "blue book"], "label": 1}]
    batch = DataCollatorForMultipleChoice(tok)(examples)
    assert batch["input_ids"].shape[:2] == (2, 3) and batch["labels"].tolist() == [0, 1]
    pair = tok("the grass is", "blue book")["input_ids"]
    assert batch["input_ids"][1, 2, :len(pair)].tolist() == pair
    assert batch["attention_mask"][1, 2].sum().item() == len(pair)
    assert batch["attention_mask"][0, 0].sum().item() < batch["input_ids"].shape[2]  # padded to the longest pair

    tokenized = [{"input_ids": [[2, 10, 3], [2, 10, 11, 3]], "attention_mask": [[1, 1, 1], [1, 1, 1, 1]],
                  "label": 1}]
    pre = DataCollatorForMultipleChoice(tok)(tokenized)
    assert pre["input_ids"].tolist() == [[[2, 10, 3, 0], [2, 10, 11, 3]]]


def test_multiple_choice_needs_equal_choice_counts(tok):
    with pytest.raises(InputError, match="same, non-zero number of choices"):
        DataCollatorForMultipleChoice(tok)([{"context": "a", "choices": ["b", "c"]},
                                            {"context": "a", "choices": ["b"]}])
