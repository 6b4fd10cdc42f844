"""Small made-up data, a tiny vocabulary and tiny models for the training tests (and the DDP worker script).

Everything is deterministic: the same seed gives the same model and the same examples in every process.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from distilkit import DistilBertConfig

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "a", "movie", "film", "plot", "was", "is", "good", "great", "bad", "awful", "boring", "fun",
         "john", "mary", "lives", "works", "in", "at", "paris", "london", "google", "acme", "who", "where", "what",
         "does", "did", "which", "color", "sky", "blue", "red", "grass", "green", "?", ".", ",", "un", "##believ",
         "##able", "##s", "##ing", "play", "read", "book", "city", "person", "company"]
VOCAB = SPECIAL + WORDS
TINY = dict(vocab_size=len(VOCAB), dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64)
NO_DROPOUT = dict(dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0, qa_dropout=0.0)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Training tests run tiny models; on a busy 2-core machine extra intra-op threads only contend (a 0.3 s test
    took 40 s with the default threads while another test process ran). Imported by the training test modules."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_vocab(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return directory


def tokenizer(directory: Path):
    from distilkit.tokenization import DistilBertTokenizerFast

    return DistilBertTokenizerFast.from_pretrained(write_vocab(directory))


def config(**overrides) -> DistilBertConfig:
    return DistilBertConfig(**{**TINY, **overrides})


def sentiment_examples(count: int, seed: int = 0) -> list[dict]:
    """Texts with a positive or negative word; label 1 for positive."""
    rng = random.Random(seed)
    examples = []
    for _ in range(count):
        label = rng.randrange(2)
        word = rng.choice(["good", "great", "fun"] if label else ["bad", "awful", "boring"])
        subject = rng.choice(["the movie", "a film", "the plot", "the book"])
        examples.append({"text": f"{subject} was {word} .", "label": label})
    return examples


def tokenized(examples: list[dict], tok) -> list[dict]:
    encoded = tok([example["text"] for example in examples])
    return [{"input_ids": encoded["input_ids"][i], "attention_mask": encoded["attention_mask"][i],
             "label": example["label"]} for i, example in enumerate(examples)]


NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "B-ORG"]


def ner_examples(count: int, seed: int = 0) -> list[dict]:
    """Words with BIO tags (ids into NER_LABELS): "<person> lives in <city>" and "<person> works at <company>"."""
    rng = random.Random(seed)
    examples = []
    for _ in range(count):
        person = rng.choice([["john"], ["mary"], ["john", "mary"]])
        if rng.random() < 0.5:
            words, tail, tag = ["lives", "in"], rng.choice(["paris", "london"]), 3
        else:
            words, tail, tag = ["works", "at"], rng.choice(["google", "acme"]), 4
        tokens = [*person, *words, tail]
        tags = [1] + [2] * (len(person) - 1) + [0, 0, tag]
        examples.append({"tokens": tokens, "labels": tags})
    return examples


def qa_examples(count: int, seed: int = 0) -> list[dict]:
    """SQuAD-style questions whose answer is a color or a city in the context."""
    rng = random.Random(seed)
    examples = []
    for index in range(count):
        color, city = rng.choice(["blue", "red", "green"]), rng.choice(["paris", "london"])
        context = f"the sky is {color} . john lives in {city} ."
        if rng.random() < 0.5:
            question, answer = "what color is the sky ?", color
        else:
            question, answer = "where does john live ?", city
        examples.append({"id": str(index), "question": question, "context": context,
                         "answers": {"text": [answer], "answer_start": [context.index(answer)]}})
    return examples


def choice_examples(count: int, seed: int = 0) -> list[dict]:
    """Pick the choice that fits the context: "the sky is" -> blue, "the grass is" -> green."""
    rng = random.Random(seed)
    examples = []
    for _ in range(count):
        subject, right = rng.choice([("the sky is", "blue"), ("the grass is", "green")])
        wrong = "green" if right == "blue" else "blue"
        choices = [right, wrong, "red"]
        rng.shuffle(choices)
        examples.append({"context": subject, "choices": choices, "label": choices.index(right)})
    return examples


def ddp_setup(output_dir: str, batch_size: int):
    """The DDP test's model, arguments, data, collator and metrics (no dropout, so ranks and runs agree)."""
    from distilkit import DistilBertForSequenceClassification
    from distilkit.training import TrainingArguments, classification_metrics, default_data_collator

    torch.manual_seed(0)
    model = DistilBertForSequenceClassification(config(num_labels=3, **NO_DROPOUT))
    rng = random.Random(1)
    train = []
    for _ in range(32):  # fixed length 6, so the default collator stacks without a tokenizer
        ids = [2] + [rng.randrange(5, len(VOCAB)) for _ in range(4)] + [3]
        train.append({"input_ids": ids, "attention_mask": [1] * 6, "label": ids[1] % 3})
    evaluation = train[:7]  # 7 examples over 2 ranks: uneven shards
    args = TrainingArguments(output_dir=output_dir, max_steps=6, per_device_train_batch_size=batch_size,
                             per_device_eval_batch_size=2, learning_rate=5e-3, warmup_steps=1, logging_steps=2,
                             gradient_accumulation_steps=1, save_strategy="steps", save_steps=3, seed=7,
                             disable_tqdm=True, use_cpu=True)
    return model, args, train, evaluation, default_data_collator, classification_metrics
