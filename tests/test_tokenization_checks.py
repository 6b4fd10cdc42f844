"""Issue 12 item 10: the fast tokenizer checks a truncation plan before encoding instead of matching the Rust
library's error text afterwards, so impossible settings never reach the backend."""

import pytest

from distilkit.errors import InputError
from distilkit.tokenization import DistilBertTokenizer, DistilBertTokenizerFast

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "d"]


class NoEncoding:
    """A backend proxy that fails the test if a batch is encoded for real (planning with encode_batch_fast is fine)."""

    def __init__(self, backend):
        object.__setattr__(self, "backend", backend)

    def encode_batch(self, *args, **kwargs):
        raise AssertionError("encode_batch was called before the plan was checked")

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def __setattr__(self, name, value):
        setattr(self.backend, name, value)


@pytest.mark.parametrize(("strategy", "pair"), [("only_second", ("a b c d a b c d", "a")),
                                                ("only_first", ("a", "a b c d a b c d"))])
def test_impossible_pair_truncation_is_refused_before_encoding(strategy, pair):
    fast = DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(VOCAB)})
    fast._backend = NoEncoding(fast._backend)
    with pytest.raises(InputError, match=f"truncation='{strategy}' cannot cut example 0"):
        fast(*pair, truncation=strategy, max_length=6)
    slow = DistilBertTokenizer(vocab={token: index for index, token in enumerate(VOCAB)})
    with pytest.raises(InputError, match=f"truncation='{strategy}' cannot cut example 0"):
        slow(*pair, truncation=strategy, max_length=6)


def test_possible_pair_truncation_still_matches_the_slow_tokenizer():
    vocab = {token: index for index, token in enumerate(VOCAB)}
    fast, slow = DistilBertTokenizerFast(vocab=vocab), DistilBertTokenizer(vocab=vocab)
    for strategy in ("only_first", "only_second", "longest_first"):
        arguments = dict(truncation=strategy, max_length=10, stride=1, return_overflowing_tokens=True)
        assert fast("a b c d a", "d c b a", **arguments)["input_ids"] == \
            slow("a b c d a", "d c b a", **arguments)["input_ids"]
