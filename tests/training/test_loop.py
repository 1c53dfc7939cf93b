"""The training loop on a tiny real model (CPU): it learns, its adapter loads back onto the
base model, and a run restored from a checkpoint takes exactly the steps an unbroken run
takes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from jobdeck.training.checkpoints import CheckpointDir
from jobdeck.training.loop import (
    LoraSettings,
    LoraTrainer,
    TrainingConfig,
    TrainingSetupError,
    load_adapted,
)
from tests.training.tiny_model import chat_examples


def _trainer(model: Path, **overrides: object) -> LoraTrainer:
    config = TrainingConfig(
        base_model=str(model),
        lora=LoraSettings(rank=8, alpha=16, dropout=0.1),
        epochs=2,
        batch_size=8,
        learning_rate=5e-3,
        seed=3,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    conversations = [e["messages"] for e in chat_examples(48)]
    validation = [e["messages"] for e in chat_examples(16, seed=99)]
    return LoraTrainer(config, conversations, validation)  # type: ignore[arg-type]


def test_it_learns_and_the_adapter_loads_back(tiny_model: Path, tmp_path: Path) -> None:
    trainer = _trainer(tiny_model, epochs=4)
    trainable, total = trainer.parameter_counts()
    assert 0 < trainable < total / 10
    before = trainer.evaluate()
    losses = [trainer.train_step().loss for _ in range(trainer.total_steps)]
    after = trainer.evaluate()
    assert before is not None and after is not None
    assert after < before - 0.2, (before, after)
    assert sum(losses[-4:]) < sum(losses[:4])
    trainer.save_adapter(tmp_path / "adapter")
    assert {p.name for p in (tmp_path / "adapter").iterdir()} == {
        "adapter_model.safetensors",
        "adapter_config.json",
    }
    loaded = load_adapted(str(tiny_model), tmp_path / "adapter").eval()
    trainer.model.eval()
    ids = torch.tensor([trainer.train_examples[0].input_ids])
    with torch.no_grad():
        expected = trainer.model(input_ids=ids).logits
        assert torch.allclose(loaded(input_ids=ids).logits, expected, atol=1e-5)
    with torch.no_grad(), loaded.disable_adapter():
        plain = loaded(input_ids=ids).logits
    assert not torch.allclose(plain, expected, atol=1e-3)  # the adapter does change the model


def test_a_restored_run_takes_the_same_steps(tiny_model: Path, tmp_path: Path) -> None:
    unbroken = _trainer(tiny_model)
    checkpoints = CheckpointDir(tmp_path / "checkpoints", keep=2)
    losses = []
    while not unbroken.finished:
        losses.append(unbroken.train_step().loss)
        if unbroken.step in (2, 4, 5):
            checkpoints.write(unbroken.step, unbroken.save_checkpoint)
    assert [step for step, _ in checkpoints.all()] == [4, 5]  # the newest two are kept

    resumed = _trainer(tiny_model)
    step, folder = checkpoints.all()[0]
    assert resumed.restore(folder) == 4
    rest = []
    while not resumed.finished:
        rest.append(resumed.train_step().loss)
    assert resumed.step == unbroken.step == unbroken.total_steps == 12
    assert rest == pytest.approx(losses[4:], abs=1e-6)
    for (name, a), (_, b) in zip(
        unbroken.model.named_parameters(), resumed.model.named_parameters(), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-6), name


def test_a_half_written_checkpoint_is_never_used(tmp_path: Path) -> None:
    checkpoints = CheckpointDir(tmp_path, keep=2)
    checkpoints.write(3, lambda folder: (folder / "trainer_state.pt").write_bytes(b"x"))

    def crash(folder: Path) -> None:
        (folder / "adapter_model.safetensors").write_bytes(b"half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        checkpoints.write(6, crash)
    assert [step for step, _ in checkpoints.all()] == [3]
    checkpoints.remove_partials()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00000003"]


def test_setup_errors_say_what_to_change(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingSetupError, match="cannot load base model"):
        _trainer(tmp_path / "nothing-here")
    with pytest.raises(TrainingSetupError, match="no CUDA device"):
        _trainer(tiny_model, device="cuda")
    with pytest.raises(TrainingSetupError, match="raise it"):
        _trainer(tiny_model, max_seq_length=16)
    with pytest.raises(TrainingSetupError, match="LoRA adapter"):
        _trainer(tiny_model, lora=LoraSettings(target_modules=["no_such_module"]))
