"""What jobdeck knows about the models OpenAI fine-tunes: tokenizer, the most tokens one
training example may have, and the training price. Pure data, shared by job inputs and the
validation report.

Prices are OpenAI's published training prices per million tokens (2025); they change, so
the report states which price it used.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICES_AS_OF = "2025-06"


@dataclass(frozen=True)
class FineTuneModel:
    name: str
    encoding: str  # the tiktoken encoding name
    context_limit: int  # tokens in one training example; longer ones are truncated
    usd_per_million_training_tokens: float


MODELS = {
    m.name: m
    for m in [
        FineTuneModel("gpt-4o-mini-2024-07-18", "o200k_base", 65_536, 3.00),
        FineTuneModel("gpt-4o-2024-08-06", "o200k_base", 65_536, 25.00),
        FineTuneModel("gpt-4.1-2025-04-14", "o200k_base", 65_536, 25.00),
        FineTuneModel("gpt-4.1-mini-2025-04-14", "o200k_base", 65_536, 5.00),
        FineTuneModel("gpt-4.1-nano-2025-04-14", "o200k_base", 65_536, 1.50),
        FineTuneModel("gpt-3.5-turbo-0125", "cl100k_base", 16_385, 8.00),
    ]
}
ALIASES = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
}
DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"


def find_model(name: str) -> FineTuneModel:
    """The model by name or alias; ValueError naming the known ones."""
    model = MODELS.get(ALIASES.get(name, name))
    if model is None:
        known = ", ".join([*MODELS, *ALIASES])
        raise ValueError(f"unknown fine-tuning model {name!r}; known models: {known}")
    return model


# OpenAI's default epochs (from its fine-tuning data-preparation cookbook): 3, raised for
# small datasets to reach ~100 examples seen, lowered for large ones to ~25,000.
TARGET_EPOCHS, MIN_TARGET_EXAMPLES, MAX_TARGET_EXAMPLES = 3, 100, 25_000
MIN_DEFAULT_EPOCHS, MAX_DEFAULT_EPOCHS = 1, 25
MIN_EXAMPLES = 10  # OpenAI refuses a training file with fewer


def default_epochs(examples: int) -> int:
    if examples <= 0:
        return TARGET_EPOCHS
    if examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // examples)
    if examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // examples)
    return TARGET_EPOCHS
