"""Shared fixtures: tiny configs that build every model class in milliseconds."""

import logging

import pytest
import torch

# Tests run two at a time (pytest -n 2) on 2 cores: one thread each avoids oversubscription, which otherwise
# makes small training tests 10-100x slower.
torch.set_num_threads(1)

TINY = dict(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=40)


@pytest.fixture
def tiny_kwargs():
    return dict(TINY)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _quiet_reference_logs():
    logging.getLogger("transformers").setLevel(logging.ERROR)
    yield
