"""Whether this process can train: the `training` extra is installed. Never imports torch."""

from __future__ import annotations

import importlib.util

EXTRA_MODULES = ("torch", "transformers", "peft", "safetensors")
INSTALL_HINT = "pip install 'jobdeck[training]'"


def missing_modules() -> list[str]:
    return [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]


def training_installed() -> bool:
    return not missing_modules()
