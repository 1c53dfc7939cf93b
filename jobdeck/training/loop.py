"""The LoRA training loop: load a base model and its tokenizer (never from the network),
wrap it with a LoRA adapter, and take optimizer steps one at a time, so the caller decides
between steps when to report, checkpoint or stop.

A checkpoint holds the adapter weights and everything else the next step depends on
(optimizer moments, learning-rate schedule, random state, step count): a run restored
from step N takes the same steps N+1.. as one that never stopped."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as transformers_logging

from jobdeck.training.checkpoints import STATE_FILE
from jobdeck.training.data import IGNORE, BatchPlan, ChatEncoder, Conversation, Encoded, collate

# Progress bars are for terminals; a worker reports progress through the job.
transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


class TrainingSetupError(ValueError):
    """Settings or a base model the trainer cannot use; the message says what to change."""


@dataclass
class LoraSettings:
    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.05
    target_modules: list[str] | str | None = None  # None: peft's default for the architecture


@dataclass
class TrainingConfig:
    base_model: str  # a folder, or a model id in the local Hugging Face cache
    lora: LoraSettings = field(default_factory=LoraSettings)
    epochs: int = 1
    learning_rate: float = 2e-4
    batch_size: int = 4
    max_seq_length: int = 512
    seed: int = 0
    device: str = "auto"
    warmup_steps: int = 0
    max_grad_norm: float = 1.0


@dataclass
class StepResult:
    step: int  # optimizer steps done, this one included
    loss: float
    tokens: int  # tokens in the batch (padding excluded)
    seconds: float


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingSetupError("device cuda was asked for, but this worker has no CUDA device")
    return torch.device(name)


def load_base(config: TrainingConfig, device: torch.device) -> tuple[Any, Any]:
    """The tokenizer and the base model, from local files only."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(config.base_model, local_files_only=True)
        dtype = torch.float32
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            dtype = torch.bfloat16
        model = AutoModelForCausalLM.from_pretrained(
            config.base_model, local_files_only=True, dtype=dtype
        )
    except (OSError, ValueError) as err:
        raise TrainingSetupError(
            f"cannot load base model {config.base_model!r} from local files: {err}"
        ) from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer, model.to(device)  # type: ignore[arg-type]


class LoraTrainer:
    def __init__(
        self,
        config: TrainingConfig,
        train: list[Conversation],
        validation: list[Conversation] | None = None,
    ) -> None:
        self.config = config
        self.device = pick_device(config.device)
        torch.manual_seed(config.seed)
        self.tokenizer, base = load_base(config, self.device)
        encoder = ChatEncoder(self.tokenizer, config.max_seq_length)
        self.train_examples, self.dropped = encoder.encode_all(train)
        if not self.train_examples:
            raise TrainingSetupError(
                "no example keeps an assistant token within maxSeqLength "
                f"({config.max_seq_length}); raise it"
            )
        self.validation_examples = encoder.encode_all(validation)[0] if validation else []
        lora = config.lora
        try:
            self.model = get_peft_model(
                base,
                LoraConfig(
                    r=lora.rank,
                    lora_alpha=lora.alpha,  # type: ignore[arg-type]  # peft takes floats
                    lora_dropout=lora.dropout,
                    target_modules=lora.target_modules,
                    task_type="CAUSAL_LM",
                ),
            )
        except ValueError as err:
            raise TrainingSetupError(f"cannot put a LoRA adapter on this model: {err}") from None
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.trainable, lr=config.learning_rate)
        self.plan = BatchPlan(
            len(self.train_examples), config.batch_size, config.epochs, config.seed
        )
        warmup, total = config.warmup_steps, self.plan.total_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: (
                (s + 1) / warmup if s < warmup else max(0.0, (total - s) / max(1, total - warmup))
            ),
        )
        self.step = 0
        self.pad_id = int(self.tokenizer.pad_token_id)

    @property
    def total_steps(self) -> int:
        return self.plan.total_steps

    @property
    def finished(self) -> bool:
        return self.step >= self.total_steps

    def parameter_counts(self) -> tuple[int, int]:
        trainable = sum(p.numel() for p in self.trainable)
        return trainable, sum(p.numel() for p in self.model.parameters())

    def train_step(self) -> StepResult:
        started = time.perf_counter()
        examples = [self.train_examples[i] for i in self.plan.indices(self.step)]
        batch = collate(examples, self.pad_id).to(self.device)
        self.model.train()
        out = self.model(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels
        )
        out.loss.backward()
        if self.config.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.trainable, self.config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return StepResult(
            self.step, float(out.loss.item()), batch.tokens, time.perf_counter() - started
        )

    @torch.no_grad()
    def evaluate(self) -> float | None:
        """Mean loss per learned token over the validation examples."""
        if not self.validation_examples:
            return None
        self.model.eval()
        total_loss, total_tokens = 0.0, 0
        size = self.config.batch_size
        for start in range(0, len(self.validation_examples), size):
            chunk: list[Encoded] = self.validation_examples[start : start + size]
            batch = collate(chunk, self.pad_id).to(self.device)
            out = self.model(
                input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels
            )
            # The model predicts each token from the ones before: the first is never scored.
            learned = sum(sum(1 for label in e.labels[1:] if label != IGNORE) for e in chunk)
            total_loss += float(out.loss.item()) * learned
            total_tokens += learned
        return total_loss / total_tokens if total_tokens else None

    def save_adapter(self, folder: Path) -> None:
        """`adapter_model.safetensors` and `adapter_config.json`, as peft and Ollama read them."""
        folder.mkdir(parents=True, exist_ok=True)
        weights = {
            k: v.detach().to("cpu", torch.float32).contiguous()
            for k, v in get_peft_model_state_dict(self.model).items()
        }
        save_file(weights, str(folder / ADAPTER_WEIGHTS), metadata={"format": "pt"})
        self.model.peft_config["default"].save_pretrained(str(folder))

    def save_checkpoint(self, folder: Path) -> None:
        self.save_adapter(folder)
        state: dict[str, Any] = {
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": torch.get_rng_state(),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        torch.save(state, folder / STATE_FILE)

    def restore(self, folder: Path) -> int:
        """Continue from a checkpoint; returns its step."""
        weights = load_file(str(folder / ADAPTER_WEIGHTS), device=str(self.device))
        set_peft_model_state_dict(self.model, weights)
        state = torch.load(folder / STATE_FILE, map_location=self.device, weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"].cpu())
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), self.device)
        self.step = int(state["step"])
        return self.step


def load_adapted(base_model: str, adapter: Path) -> Any:
    """The base model with a saved adapter on it, for inference (and for tests)."""
    base = AutoModelForCausalLM.from_pretrained(base_model, local_files_only=True)
    return PeftModel.from_pretrained(base, str(adapter))


def adapter_files(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()}


def adapter_summary(folder: Path) -> dict[str, Any]:
    config = json.loads((folder / ADAPTER_CONFIG).read_text())
    return {k: config.get(k) for k in ("r", "lora_alpha", "lora_dropout", "target_modules")}
