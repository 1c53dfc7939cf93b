"""Chat data for training: which tokens are learned, the order of batches, and what each
bad line gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from jobdeck.training.data import (
    IGNORE,
    BatchPlan,
    ChatEncoder,
    TrainingDataError,
    collate,
    read_conversations,
)


def test_only_assistant_replies_are_learned(tiny_model: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model), local_files_only=True)
    encoder = ChatEncoder(tokenizer, max_seq_length=512)
    conversation = [
        {"role": "system", "content": "answer in one short sentence"},
        {"role": "user", "content": "what do cats like ?"},
        {"role": "assistant", "content": "cats like other cats ."},
        {"role": "user", "content": "what do dogs need ?"},
        {"role": "assistant", "content": "dogs need other dogs ."},
    ]
    encoded = encoder.encode(conversation)
    assert len(encoded.input_ids) == len(encoded.labels)
    learned = tokenizer.decode([t for t in encoded.labels if t != IGNORE])
    assert learned.replace(" ", "") == "catslikeothercats.</s>\ndogsneedotherdogs.</s>\n"
    whole = tokenizer.apply_chat_template(conversation, tokenize=False)
    assert tokenizer.decode(encoded.input_ids).replace(" ", "") == whole.replace(" ", "")
    short = ChatEncoder(tokenizer, max_seq_length=20)
    kept, dropped = short.encode_all([conversation[:3]])
    assert (kept, dropped) == ([], 1)  # truncation left no reply token to learn

    batch = collate([encoded, encoder.encode(conversation[:3])], pad_id=1)
    assert batch.input_ids.shape == batch.labels.shape == (2, len(encoded.input_ids))
    assert batch.tokens == len(encoded.input_ids) + len(encoder.encode(conversation[:3]).input_ids)
    assert int(batch.labels[1, -1]) == IGNORE  # padding is never learned


def test_each_epoch_sees_every_example_once_in_a_seeded_order() -> None:
    plan = BatchPlan(examples=10, batch_size=4, epochs=3, seed=5)
    assert (plan.steps_per_epoch, plan.total_steps) == (3, 9)
    for epoch in range(3):
        seen = [i for step in range(epoch * 3, epoch * 3 + 3) for i in plan.indices(step)]
        assert sorted(seen) == list(range(10))
    again = BatchPlan(examples=10, batch_size=4, epochs=3, seed=5)
    assert [again.indices(s) for s in (7, 2, 4)] == [plan.indices(s) for s in (7, 2, 4)]
    assert plan.indices(0) != plan.indices(3)  # each epoch reshuffles


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("{not json", "line 2 is not valid JSON"),
        ('{"prompt": "x"}', 'line 2 has no "messages" list'),
        ('{"messages": [{"role": "robot", "content": "x"}]}', "line 2: each message needs a role"),
        ('{"messages": [{"role": "user", "content": 3}]}', "line 2: a user message has no text"),
        ('{"messages": [{"role": "user", "content": "x"}]}', "line 2 has no assistant message"),
    ],
)
def test_a_bad_line_is_named(tmp_path: Path, line: str, error: str) -> None:
    good = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(good) + "\n" + line + "\n")
    with pytest.raises(TrainingDataError, match=error):
        read_conversations(path)


def test_an_empty_file_has_no_examples(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(TrainingDataError, match="has no examples"):
        read_conversations(tmp_path / "empty.jsonl")
