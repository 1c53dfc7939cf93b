"""Chat examples to token ids and labels.

Each conversation is rendered with the tokenizer's chat template (a plain default when it
has none). Only assistant replies are learned: the labels of every other token are -100.
The split follows the template itself: rendering the conversation up to each message, and
up to each assistant reply's generation prompt, tells which characters each part owns."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

IGNORE = -100
ROLES = ("system", "user", "assistant", "tool")

# For tokenizers without a chat template (e.g. a base model's): one turn per block.
DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


class TrainingDataError(ValueError):
    """A dataset the trainer cannot learn from; the message names the line."""


Conversation = list[dict[str, str]]


def read_conversations(path: Path, *, label: str = "dataset") -> list[Conversation]:
    """Every example of a chat JSONL file, checked: the first bad line is named."""
    conversations: list[Conversation] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            conversations.append(_conversation(line, number, label))
    if not conversations:
        raise TrainingDataError(f"the {label} has no examples")
    return conversations


def _conversation(line: str, number: int, label: str) -> Conversation:
    where = f"{label} line {number}"
    try:
        example = json.loads(line)
    except ValueError as err:
        raise TrainingDataError(f"{where} is not valid JSON ({err})") from None
    messages = example.get("messages") if isinstance(example, dict) else None
    if not isinstance(messages, list) or not messages:
        raise TrainingDataError(f'{where} has no "messages" list')
    turns: Conversation = []
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise TrainingDataError(f"{where}: each message needs a role among {ROLES}")
        content = message.get("content")
        if not isinstance(content, str):
            raise TrainingDataError(f"{where}: a {message['role']} message has no text content")
        turns.append({"role": message["role"], "content": content})
    if not any(t["role"] == "assistant" for t in turns):
        raise TrainingDataError(f"{where} has no assistant message to learn from")
    return turns


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]

    @property
    def learned_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE)


class ChatEncoder:
    def __init__(self, tokenizer: Any, max_seq_length: int) -> None:
        if not getattr(tokenizer, "chat_template", None):
            tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length

    def _render(self, messages: Conversation, *, generation_prompt: bool = False) -> str:
        if not messages:
            return ""
        text: str = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )
        return text

    def _ids(self, text: str) -> list[int]:
        if not text:
            return []
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def encode(self, messages: Conversation) -> Encoded:
        """Token ids of the whole conversation; labels learn the assistant replies only."""
        ids: list[int] = []
        labels: list[int] = []
        rendered = ""
        for i, message in enumerate(messages):
            before = self._render(messages[:i], generation_prompt=message["role"] == "assistant")
            after = self._render(messages[: i + 1])
            if not before.startswith(rendered) or not after.startswith(before):
                # A template that rewrites earlier turns: learn the whole reply span as one.
                before = rendered
            prompt, reply = before[len(rendered) :], after[len(before) :]
            prompt_ids, reply_ids = self._ids(prompt), self._ids(reply)
            ids += prompt_ids + reply_ids
            learned = reply_ids if message["role"] == "assistant" else [IGNORE] * len(reply_ids)
            labels += [IGNORE] * len(prompt_ids) + learned
            rendered = after
        return Encoded(ids[: self.max_seq_length], labels[: self.max_seq_length])

    def encode_all(self, conversations: Iterable[Conversation]) -> tuple[list[Encoded], int]:
        """The examples that keep at least one learned token after truncation, and how many
        were dropped because truncation left nothing to learn."""
        kept: list[Encoded] = []
        dropped = 0
        for conversation in conversations:
            encoded = self.encode(conversation)
            if encoded.learned_tokens:
                kept.append(encoded)
            else:
                dropped += 1
        return kept, dropped


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor

    @property
    def tokens(self) -> int:
        return int(self.attention_mask.sum().item())

    def to(self, device: torch.device) -> Batch:
        return Batch(
            self.input_ids.to(device), self.attention_mask.to(device), self.labels.to(device)
        )


def collate(examples: Sequence[Encoded], pad_id: int) -> Batch:
    """Right-padded tensors; padding is masked out of attention and loss."""
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids, dtype=torch.long)
        mask[row, :n] = 1
        labels[row, :n] = torch.tensor(example.labels, dtype=torch.long)
    return Batch(ids, mask, labels)


class BatchPlan:
    """Which examples each optimizer step uses: a seeded shuffle per epoch, so the batch of
    step N is the same in a run that resumes at step N as in one that never stopped."""

    def __init__(self, examples: int, batch_size: int, epochs: int, seed: int) -> None:
        self.examples = examples
        self.batch_size = batch_size
        self.epochs = epochs
        self.seed = seed
        self.steps_per_epoch = math.ceil(examples / batch_size)
        self.total_steps = self.steps_per_epoch * epochs
        self._order: tuple[int, list[int]] | None = None

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def indices(self, step: int) -> list[int]:
        epoch, position = divmod(step, self.steps_per_epoch)
        if self._order is None or self._order[0] != epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._order = (epoch, torch.randperm(self.examples, generator=generator).tolist())
        start = position * self.batch_size
        return self._order[1][start : start + self.batch_size]

    def steps(self, start: int) -> Iterator[int]:
        return iter(range(start, self.total_steps))
