"""Local LoRA fine-tuning of causal language models: chat data to token batches, the
training loop, and its checkpoints. Plain PyTorch, transformers and peft (the `training`
extra); nothing here knows about Temporal, so benchmarks and tests drive it directly.

Import `jobdeck.training.available` freely; the other modules import torch."""
