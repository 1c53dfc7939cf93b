"""A tiny causal language model built from a config, with a tokenizer trained on the test
data: real transformers classes and real weights (random), no download. Shared by the
training tests and bench/training.py."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

BASE = "tiny-llama"  # its folder's name under a base-models directory
SPECIAL = ["<unk>", "<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]

_SUBJECTS = ["cats", "dogs", "rivers", "stars", "trains", "bread", "music", "rain", "maps", "tea"]
_VERBS = ["like", "need", "follow", "carry", "warm", "guide", "hold", "color", "shape", "calm"]


def chat_examples(count: int, *, seed: int = 7) -> list[dict[str, object]]:
    """Chat examples with a pattern worth learning: the answer repeats the question's
    words in a fixed frame, so the loss of a model that learns goes down."""
    rng = random.Random(seed)
    examples = []
    for _ in range(count):
        subject, verb = rng.choice(_SUBJECTS), rng.choice(_VERBS)
        examples.append(
            {
                "messages": [
                    {"role": "system", "content": "answer in one short sentence"},
                    {"role": "user", "content": f"what do {subject} {verb} ?"},
                    {"role": "assistant", "content": f"{subject} {verb} other {subject} ."},
                ]
            }
        )
    return examples


def chat_jsonl(examples: Iterable[dict[str, object]]) -> bytes:
    return "".join(json.dumps(e) + "\n" for e in examples).encode()


def _corpus(examples: list[dict[str, object]]) -> Iterable[str]:
    for example in examples:
        for message in example["messages"]:  # type: ignore[attr-defined]
            yield message["content"]


def build_tiny_model(
    folder: Path,
    examples: list[dict[str, object]],
    *,
    hidden: int = 64,
    layers: int = 2,
    seed: int = 0,
) -> Path:
    """Save a tokenizer and a random Llama-architecture model (a few hundred thousand
    parameters) into `folder`, loadable with from_pretrained(folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(sep, behavior="isolated") for sep in ("\n", " ")]
    )
    tokenizer.train_from_iterator(
        [*_corpus(examples), "\n"], trainers.WordLevelTrainer(special_tokens=SPECIAL)
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
    )
    fast.save_pretrained(str(folder))
    import torch

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        pad_token_id=fast.pad_token_id,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(str(folder))
    return folder
