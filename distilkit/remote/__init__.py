"""Remote chat models behind the pipeline API: any OpenAI-compatible server (OpenAI, vLLM, llama.cpp, Ollama,
LiteLLM) as `model=` of text-classification, zero-shot-classification, token-classification and
question-answering, with the local pipelines' call shapes and outputs.

    clf = pipeline("text-classification", model="openai:gpt-4o-mini", labels=["POSITIVE", "NEGATIVE"])
    clf = pipeline("text-classification", model=OpenAICompatible("my-llm", base_url="http://localhost:8000/v1"),
                   labels=["POSITIVE", "NEGATIVE"])

This package is the transport and the reading of replies (`backend`, `answers`); the pipelines that ask and
validate live with the other pipelines (`distilkit.pipelines.remote`). The `openai` client (extra
`distilkit[remote]`) is imported only when a backend is built.
"""

from .backend import OpenAICompatible, Usage

__all__ = ["OpenAICompatible", "Usage"]
