"""question-answering on hand-checked cases.

The reference removed this pipeline in 5.3, so besides the optional comparison with 5.2
(tests/parity/test_pipelines_parity.py) the span search is checked against answers worked out by hand. The
model is our own module whose start/end logits depend only on the token id, so which span wins, and with what
probability, follows from the softmax formula: with logit L on one allowed token and 0 on the m - 1 others of
a window, that token's probability is e^L / (e^L + m - 1).
"""

import math
import types

import pytest
import torch
from torch import nn

from distilkit.errors import InputError
from distilkit.pipelines import pipeline
from distilkit.tokenization import DistilBertTokenizerFast

WORDS = (
    "the a is was in on of and to cat dog sat mat john marie lives paris berlin france germany who where "
    "what city capital . , ? !"
).split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]


def tokenizer():
    return DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(VOCAB)})


class TokenQA(nn.Module):
    """Start and end logits looked up per token id (and per position for [CLS]): a QA model whose answers are
    known in advance."""

    def __init__(self, start=None, end=None, cls=0.0, positions=64):
        super().__init__()
        self.config = types.SimpleNamespace(max_position_embeddings=positions, vocab_size=len(VOCAB))
        self.start = torch.zeros(len(VOCAB))
        self.end = torch.zeros(len(VOCAB))
        for table, logits in ((self.start, start or {}), (self.end, end or {})):
            for word, value in logits.items():
                table[VOCAB.index(word)] = value
        self.cls = cls

    def forward(self, input_ids, attention_mask):
        start, end = self.start[input_ids], self.end[input_ids]  # (B, T)
        start[:, 0] = end[:, 0] = self.cls
        return {"start_logits": start, "end_logits": end}


def qa(model, **options):
    return pipeline("question-answering", model=model, tokenizer=tokenizer(), **options)


CONTEXT = "John lives in Paris, France. Marie lives in Berlin."
# context tokens: john lives in paris , france . marie lives in berlin .
ALLOWED = 12 + 1  # the 12 context tokens and [CLS] (question tokens and [SEP] are masked)


def probability(logit, others):
    return math.exp(logit) / (math.exp(logit) + others)


def test_answer_text_offsets_and_score():
    runner = qa(TokenQA(start={"paris": 8.0}, end={"france": 8.0}))
    result = runner(question="who lives in paris?", context=CONTEXT)
    # "paris" appears in the question too, but only context tokens may start an answer
    assert result["answer"] == "Paris, France"
    assert (result["start"], result["end"]) == (14, 27)
    assert CONTEXT[14:27] == "Paris, France"
    expected = probability(8.0, ALLOWED - 1) ** 2
    assert result["score"] == pytest.approx(expected, rel=1e-5)


def test_top_k_ranks_every_span_by_start_times_end_probability():
    runner = qa(TokenQA(start={"paris": 8.0, "berlin": 6.0}, end={"paris": 8.0, "berlin": 6.0}))
    answers = runner(question="where?", context=CONTEXT, top_k=3)
    denominator = math.exp(8) + math.exp(6) + ALLOWED - 2
    high, low = math.exp(8) / denominator, math.exp(6) / denominator
    assert [answer["answer"] for answer in answers] == [
        "Paris",
        "Paris, France. Marie lives in Berlin",
        "Berlin",
    ]
    assert [(answer["start"], answer["end"]) for answer in answers] == [(14, 19), (14, 50), (44, 50)]
    assert [answer["score"] for answer in answers] == pytest.approx(
        [high * high, high * low, low * low], rel=1e-5
    )
    # an answer may not end before it starts: Berlin ... Paris is never proposed
    assert all(
        answer["start"] < answer["end"] for answer in runner(question="where?", context=CONTEXT, top_k=20)
    )


def test_max_answer_len_drops_long_spans():
    runner = qa(TokenQA(start={"paris": 8.0, "berlin": 6.0}, end={"paris": 8.0, "berlin": 6.0}))
    answers = runner(question="where?", context=CONTEXT, top_k=3, max_answer_len=3)
    # Paris (token 4 of the context) to Berlin (token 11) spans 8 tokens: too long now
    assert [answer["answer"] for answer in answers][:2] == ["Paris", "Berlin"]
    assert "Paris, France. Marie lives in Berlin" not in [answer["answer"] for answer in answers]


def test_impossible_answer():
    runner = qa(TokenQA(start={"paris": 2.0}, end={"paris": 2.0}, cls=9.0))
    result = runner(question="who is the capital?", context=CONTEXT, handle_impossible_answer=True)
    null = probability(9.0, math.exp(2.0) + ALLOWED - 2)
    assert result == {"score": pytest.approx(null * null, rel=1e-5), "start": 0, "end": 0, "answer": ""}
    # without the option, the best real span wins, however unlikely
    assert runner(question="who is the capital?", context=CONTEXT)["answer"] == "Paris"
    both = runner(question="who is the capital?", context=CONTEXT, handle_impossible_answer=True, top_k=2)
    assert [answer["answer"] for answer in both] == ["", "Paris"]


def test_context_longer_than_one_window():
    filler = "the cat sat on the mat . " * 12
    context = filler + "marie lives in berlin , germany . " + filler
    runner = qa(TokenQA(start={"berlin": 8.0}, end={"germany": 8.0}))
    options = {"max_seq_len": 24, "doc_stride": 6}
    windows = runner.preprocess(
        [{"question": "where does marie live?", "context": context}],
        ["q"],
        max_seq_len=24,
        doc_stride=6,
        max_question_len=64,
    )[0]
    assert len(windows) > 10 and all(len(window["input_ids"]) <= 24 for window in windows)
    result = runner(question="where does marie live?", context=context, **options)
    start = len(filler) + len("marie lives in ")
    assert (result["answer"], result["start"], result["end"]) == ("berlin , germany", start, start + 16)
    # the same answer found in two overlapping windows adds up its scores: the total is above one window's
    # best
    assert result["score"] > probability(8.0, 20) ** 2


def test_align_to_words_widens_to_whole_words():
    vocab = [*VOCAB, "ber", "##mu", "##da"]
    tokens = DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(vocab)})
    model = TokenQA()
    model.config.vocab_size = len(vocab)
    model.start = torch.zeros(len(vocab))
    model.end = torch.zeros(len(vocab))
    model.start[vocab.index("ber")] = model.end[vocab.index("ber")] = 8.0
    runner = pipeline("question-answering", model=model, tokenizer=tokens)
    context = "Marie lives in Bermuda."  # bermuda -> ber ##mu ##da; the model points at "ber" alone
    assert runner(question="where?", context=context)["answer"] == "Bermuda"
    assert runner(question="where?", context=context, align_to_words=False)["answer"] == "Ber"


def test_call_shapes():
    runner = qa(TokenQA(start={"paris": 8.0}, end={"france": 8.0}), batch_size=4)
    one = runner(question="who?", context=CONTEXT)
    assert runner("who?", CONTEXT) == one
    assert runner({"question": "who?", "context": CONTEXT}) == one
    assert runner(question=["who?", "where?"], context=CONTEXT) == [
        one,
        runner(question="where?", context=CONTEXT),
    ]
    assert runner(question=["who?"], context=[CONTEXT]) == [one]
    assert list(runner({"question": question, "context": CONTEXT} for question in ["who?", "who?"])) == [
        one,
        one,
    ]


def test_long_question_is_cut_to_max_question_len_instead_of_failing():
    runner = qa(TokenQA(start={"paris": 8.0}, end={"france": 8.0}, positions=128))
    question = "who " * 80 + "lives in paris?"  # 84 tokens: cut to the default 64, leaving 61 for the context
    result = runner(question=question, context=CONTEXT, max_seq_len=128)
    assert result["answer"] == "Paris, France"
    with pytest.raises(InputError, match="a question of 64 tokens leaves no room for the context"):
        runner(question=question, context=CONTEXT, max_seq_len=64)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda runner: runner(question="who?"), "needs both question= and context="),
        (lambda runner: runner(question="", context=CONTEXT), "empty string"),
        (lambda runner: runner(question=["a", "b"], context=["c"]), "2 questions but 1 contexts"),
        (lambda runner: runner(question=3, context=CONTEXT), "strings or lists"),
        (lambda runner: runner({"question": "who?"}), "'question' and 'context'"),
        (
            lambda runner: runner(question="who?", context=CONTEXT, doc_stride=30, max_seq_len=20),
            "doc_stride=30",
        ),
        (
            lambda runner: runner(question="who?", context=CONTEXT * 5, doc_stride=16, max_seq_len=20),
            "doc_stride=16 must be smaller",
        ),
        (
            lambda runner: runner(question="who?", context=CONTEXT, max_seq_len=100),
            "more than the model accepts",
        ),
        (lambda runner: runner(question="who?", context=CONTEXT, top_k=0), "top_k"),
        (lambda runner: runner(question="who?", context=CONTEXT, padding="longest"), "unknown option"),
    ],
)
def test_bad_calls(call, message):
    with pytest.raises(InputError, match=message):
        call(qa(TokenQA()))
