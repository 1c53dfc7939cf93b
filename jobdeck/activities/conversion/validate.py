"""The validation report for OpenAI chat fine-tuning data, following OpenAI's published
rules (its fine-tuning guide and data-preparation cookbook): every example has
`messages`; roles are system, user, assistant or tool; each example has an assistant
message; no empty content; no unrecognized keys; at least 10 examples. It adds token
counts with the model's real tokenizer, the examples over its context limit, and the
billed tokens and cost for the chosen epochs. Memory stays bounded: counters, and the
first line numbers of each kind of problem."""

from __future__ import annotations

from typing import Any

from jobdeck.fine_tuning_models import MIN_EXAMPLES, PRICES_AS_OF, default_epochs, find_model

FIRST_LINES = 10  # line numbers kept per kind of problem

ERRORS = {
    "invalid_json": "the line is not valid JSON",
    "data_type": "the line is not a JSON object",
    "missing_messages": 'the example has no "messages" list',
    "unrecognized_key": "the example has a key other than messages, tools, parallel_tool_calls",
    "message_not_object": "a message is not a JSON object",
    "message_missing_key": 'a message lacks "role" or "content"',
    "message_unrecognized_key": "a message has a key other than role, content, name, "
    "weight, tool_calls, tool_call_id, function_call",
    "unrecognized_role": "a message's role is not system, user, assistant or tool",
    "missing_content": "a message's content is empty or not text",
    "missing_assistant_message": "the example has no assistant message",
    "too_few_examples": f"OpenAI needs at least {MIN_EXAMPLES} examples",
}


def too_few_examples(examples: int) -> str:
    """Why a dataset with too few examples fails, in words: how many it has, how many
    OpenAI needs."""
    return (
        f"the dataset has {examples} example{'' if examples == 1 else 's'}; OpenAI needs at "
        f"least {MIN_EXAMPLES}"
    )


WARNINGS = {
    "over_context_limit": "the example has more tokens than the model trains on; OpenAI "
    "truncates it",
}
EXAMPLE_KEYS = {"messages", "tools", "parallel_tool_calls", "functions"}
MESSAGE_KEYS = {"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call"}
ROLES = {"system", "user", "assistant", "tool"}


def problems_of(example: Any) -> list[str]:
    """The kinds of error in one example (empty: it is fine)."""
    if not isinstance(example, dict):
        return ["data_type"]
    found: list[str] = []
    if set(example) - EXAMPLE_KEYS:
        found.append("unrecognized_key")
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*found, "missing_messages"]
    for message in messages:
        if not isinstance(message, dict):
            found.append("message_not_object")
            continue
        if "role" not in message or ("content" not in message and "tool_calls" not in message):
            found.append("message_missing_key")
        if set(message) - MESSAGE_KEYS:
            found.append("message_unrecognized_key")
        if message.get("role") not in ROLES:
            found.append("unrecognized_role")
        content = message.get("content")
        calls_tools = message.get("role") == "assistant" and message.get("tool_calls")
        if not calls_tools and (not isinstance(content, str) or not content.strip()):
            found.append("missing_content")
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        found.append("missing_assistant_message")
    return list(dict.fromkeys(found))


class ReportBuilder:
    def __init__(self, model_name: str, epochs: int | None) -> None:
        # Imported here: the vocabularies cost memory that only a report needs.
        from jobdeck.activities.conversion import tokens

        self.count_messages = tokens.count_messages
        self.model = find_model(model_name)
        self.encoding = tokens.encoding(self.model.encoding)
        self.epochs = epochs
        self.examples = 0
        self._errors: dict[str, list[int]] = {}
        self._error_counts: dict[str, int] = {}
        self._warnings: dict[str, list[int]] = {}
        self._warning_counts: dict[str, int] = {}
        self.total_tokens = 0
        self.billed_tokens = 0  # per epoch: each example counts up to the context limit
        self.counted = 0
        self.min_tokens: int | None = None
        self.max_tokens = 0

    def _note(
        self, table: dict[str, list[int]], counts: dict[str, int], kind: str, line: int
    ) -> None:
        counts[kind] = counts.get(kind, 0) + 1
        lines = table.setdefault(kind, [])
        if len(lines) < FIRST_LINES:
            lines.append(line)

    def error(self, kind: str, line: int) -> None:
        self._note(self._errors, self._error_counts, kind, line)

    def add(self, line: int, example: Any) -> None:
        """Check one example (a parsed line) and count its tokens."""
        self.examples += 1
        found = problems_of(example)
        for kind in found:
            self.error(kind, line)
        if isinstance(example, dict) and isinstance(example.get("messages"), list):
            messages = [m for m in example["messages"] if isinstance(m, dict)]
            self._count(line, self.count_messages(self.encoding, messages))

    def add_invalid(self, line: int, kind: str = "invalid_json") -> None:
        self.examples += 1
        self.error(kind, line)

    def _count(self, line: int, n: int) -> None:
        self.counted += 1
        self.total_tokens += n
        self.billed_tokens += min(n, self.model.context_limit)
        self.min_tokens = n if self.min_tokens is None else min(self.min_tokens, n)
        self.max_tokens = max(self.max_tokens, n)
        if n > self.model.context_limit:
            self._note(self._warnings, self._warning_counts, "over_context_limit", line)

    def report(self) -> dict[str, Any]:
        if self.examples < MIN_EXAMPLES:
            self._error_counts["too_few_examples"] = 1
            self._errors["too_few_examples"] = []
        epochs = self.epochs or default_epochs(self.examples)
        billed = self.billed_tokens * epochs
        price = self.model.usd_per_million_training_tokens

        def listed(
            table: dict[str, list[int]], counts: dict[str, int], text: dict[str, str]
        ) -> list[dict[str, Any]]:
            return [
                {"kind": k, "message": text[k], "count": counts[k], "firstLines": table[k]}
                for k in text
                if k in counts
            ]

        text = {**ERRORS, "too_few_examples": too_few_examples(self.examples)}
        return {
            "valid": not self._error_counts,
            "examples": self.examples,
            "model": self.model.name,
            "errors": listed(self._errors, self._error_counts, text),
            "warnings": listed(self._warnings, self._warning_counts, WARNINGS),
            "tokens": {
                "encoding": self.model.encoding,
                "exact": True,  # counted with the model's own vocabulary, not estimated
                "total": self.total_tokens,
                "min": self.min_tokens or 0,
                "max": self.max_tokens,
                "mean": round(self.total_tokens / self.counted, 1) if self.counted else 0,
                "contextLimit": self.model.context_limit,
                "overContextLimit": self._warning_counts.get("over_context_limit", 0),
            },
            "billing": {
                "tokensPerEpoch": self.billed_tokens,
                "epochs": epochs,
                "epochsDefaulted": self.epochs is None,
                "billedTokens": billed,
                "usdPerMillionTokens": price,
                "estimatedCostUsd": round(billed * price / 1_000_000, 4),
                "pricesAsOf": PRICES_AS_OF,
            },
        }


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The part of a report a job's result carries (the whole is on the dataset)."""
    return {
        "valid": report["valid"],
        "examples": report["examples"],
        "errors": {e["kind"]: e["count"] for e in report["errors"]},
        "billedTokens": report["billing"]["billedTokens"],
        "estimatedCostUsd": report["billing"]["estimatedCostUsd"],
    }
