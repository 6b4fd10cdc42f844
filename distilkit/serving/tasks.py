"""The request shape of each task: `{"inputs": ..., "parameters": {...}, "model": ...}` (the Hugging Face
Inference API's body), its pydantic schema for validation and the OpenAPI docs, and how a request's inputs are
split into the items a pipeline takes.

A request holds one input (the pipeline's single-input call and result shape) or a list of inputs (one result
each). Question answering takes `{"question", "context"}` items, multiple choice `{"question", "choices",
"context"?}`, text classification texts or `{"text", "text_pair"}` pairs, every other task texts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from .errors import ServeError

STRICT = ConfigDict(extra="forbid", strict=True)


class TextPair(BaseModel):
    model_config = STRICT
    text: str
    text_pair: str | None = None


class QuestionContext(BaseModel):
    model_config = STRICT
    question: str
    context: str


class QuestionChoices(BaseModel):
    model_config = STRICT
    question: str
    choices: list[str]
    context: str | None = None


@dataclass(frozen=True)
class TaskShape:
    task: str
    item: Any  # the type of one input
    example: Any  # an example `inputs`, shown in /docs
    summary: str

    @property
    def route(self) -> str:
        return f"/v1/{self.task}"


TEXT_EXAMPLE = "A gorgeous, witty film."
SHAPES: dict[str, TaskShape] = {
    shape.task: shape
    for shape in (
        TaskShape("text-classification", str | TextPair, TEXT_EXAMPLE,
                  "Labels and scores of texts or {text, text_pair} pairs"),
        TaskShape("token-classification", str, "Barack Obama visited Paris",
                  "Entities or per-token labels, with character offsets"),
        TaskShape("question-answering", QuestionContext,
                  {"question": "Where does Marie live?", "context": "Marie lives in Paris."},
                  "The answer span of a question in a context"),
        TaskShape("fill-mask", str, "She was [MASK] happy to see him.", "Candidates for the [MASK] token"),
        TaskShape("feature-extraction", str, TEXT_EXAMPLE,
                  "Token embeddings, or one vector per text with parameters.pooling"),
        TaskShape("zero-shot-classification", str, "I lost my phone",
                  "Scores of parameters.candidate_labels for each text"),
        TaskShape("multiple-choice", QuestionChoices,
                  {"question": "The cat", "choices": ["sat on the mat.", "flew to the moon."]},
                  "The choice that best continues or answers the question"),
    )
}

# parameters the server owns: a client cannot resize the forward pass or ask for tensors
SERVER_PARAMETERS = {"batch_size": "the rows per forward pass are the server's --batch-size setting"}


def request_model(shape: TaskShape) -> type[BaseModel]:
    """`{"inputs", "parameters", "model"}` for one task, strict: no "1" -> 1 coercion, no unknown keys."""
    name = "".join(part.title() for part in shape.task.split("-")) + "Request"
    return create_model(
        name,
        __config__=STRICT,
        inputs=(shape.item | list[shape.item], Field(examples=[shape.example],
                                                       description="one input, or a list of inputs")),
        parameters=(dict[str, Any], Field(default_factory=dict,
                                          description="the pipeline call's options, e.g. {\"top_k\": 2}")),
        model=(str | None, Field(default=None, description="which served model (default: the task's first)")),
    )


class EmbeddingsRequest(BaseModel):
    """OpenAI's `POST /v1/embeddings` body."""

    model_config = ConfigDict(extra="forbid", strict=True)
    input: str | list[str] = Field(examples=["A gorgeous, witty film."])
    model: str | None = None
    encoding_format: str = Field(default="float", description="float or base64 (little-endian float32)")
    dimensions: int | None = None
    user: str | None = None


class ExplainParameters(BaseModel):
    model_config = STRICT
    n_steps: int = Field(default=50, ge=1, description="integrated-gradients steps (at most max_explain_steps)")
    method: str = Field(default="gausslegendre", description="gausslegendre or riemann_{left,right,middle,trapezoid}")
    internal_batch_size: int = Field(default=50, ge=1, le=1024, description="path points per forward pass")
    with_attention: bool = Field(default=True, description="include the attention maps and their rollout")


class ExplainRequest(BaseModel):
    """`POST /v1/explain`: token attributions (and attention maps) of one text, for the playground."""

    model_config = STRICT
    inputs: str = Field(examples=["A gorgeous, witty film."])
    parameters: ExplainParameters = Field(default_factory=ExplainParameters)
    model: str | None = Field(default=None, description="a served text-classification, token-classification or "
                                                        "fill-mask model (default: the first)")


EXPLAINABLE = ("text-classification", "token-classification", "fill-mask")


@dataclass(frozen=True)
class Parsed:
    items: list[Any]  # plain Python inputs, as the pipeline takes them
    single: bool
    parameters: dict[str, Any]
    model: str | None


def validate(model: type[BaseModel], body: Any, max_client_batch_size: int, field: str = "inputs") -> BaseModel:
    """Client-batch size first (so a 100k-item list is refused before it is validated), then the schema."""
    if not isinstance(body, dict):
        raise ServeError("validation", f"the body must be a JSON object, got {json_type(body)}")
    inputs = body.get(field)
    if isinstance(inputs, list) and len(inputs) > max_client_batch_size:
        raise ServeError(
            "validation",
            f"`{field}` holds {len(inputs)} items but this server takes at most max_client_batch_size="
            f"{max_client_batch_size} per request; split the list over several requests",
        )
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise ServeError("validation", describe_validation(error)) from None


def parse_request(shape: TaskShape, model: type[BaseModel], body: Any, max_client_batch_size: int) -> Parsed:
    request = validate(model, body, max_client_batch_size)
    inputs = request.inputs
    single = not isinstance(inputs, list)
    items = [plain(item) for item in ([inputs] if single else inputs)]
    if not items:
        raise ServeError("empty_input", "`inputs` is an empty list; send at least one input")
    for index, item in enumerate(items):
        for where, text in all_texts(item):
            if not text.strip():
                name = "inputs" if single else f"inputs[{index}]"
                raise ServeError("empty_input", f"{name}{where} is empty (or only whitespace); send some text")
        if isinstance(item, dict) and item.get("choices") == []:
            raise ServeError("empty_input", f"inputs[{index}]['choices'] is empty; send at least one choice")
    for name, reason in SERVER_PARAMETERS.items():
        if name in request.parameters:
            raise ServeError("validation", f"parameters.{name} is not accepted: {reason}")
    return Parsed(items, single, dict(request.parameters), request.model)


def plain(item: Any) -> Any:
    return item.model_dump(exclude_none=True) if isinstance(item, BaseModel) else item


def text_fields(item: Any) -> list[tuple[str, str]]:
    """The texts of one input that `max_input_tokens` limits, with where they sit. A question-answering
    context is not among them: the pipeline reads it in overlapping windows, and its whole cost is bounded by
    max_batch_tokens instead."""
    if isinstance(item, str):
        return [("", item)]
    fields = [(f"[{key!r}]", item[key]) for key in ("text", "text_pair", "question") if isinstance(item.get(key), str)]
    if "choices" in item:
        fields += [(f"['choices'][{index}]", choice) for index, choice in enumerate(item["choices"])]
        if isinstance(item.get("context"), str):
            fields.append(("['context']", item["context"]))
    return fields


def all_texts(item: Any) -> list[tuple[str, str]]:
    """Every text of one input (the question-answering context included), with where it sits."""
    if isinstance(item, dict) and "choices" not in item and isinstance(item.get("context"), str):
        return [*text_fields(item), ("['context']", item["context"])]
    return text_fields(item)


def with_texts(item: Any, texts: list[str]) -> Any:
    """`item` with its `text_fields` replaced by `texts`, in the same order."""
    if isinstance(item, str):
        return texts[0]
    updated = dict(item)
    remaining = iter(texts)
    for key in ("text", "text_pair", "question"):
        if isinstance(item.get(key), str):
            updated[key] = next(remaining)
    if "choices" in item:
        updated["choices"] = [next(remaining) for _ in item["choices"]]
        if isinstance(item.get("context"), str):
            updated["context"] = next(remaining)
    return updated


def single_result(task: str, item: Any, result: Any, parameters: dict[str, Any]) -> Any:
    """The result shape of a single-input call: text classification wraps a lone string's top label in a list
    (the reference's legacy shape) unless top_k is given."""
    if task == "text-classification" and isinstance(item, str) and "top_k" not in parameters:
        return [result]
    return result


def describe_validation(error: ValidationError) -> str:
    problems = []
    for detail in error.errors(include_url=False)[:5]:
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in detail["loc"]).lstrip(".")
        problems.append(f"{where or 'body'}: {detail['msg']}")
    more = error.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
