"""Checkpoint folders of one training run: `step-00000040/` each, written whole or not at
all (into a hidden folder, then renamed), the newest few kept."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

STATE_FILE = "trainer_state.pt"
_NAME = re.compile(r"^step-(\d{8})$")


class CheckpointDir:
    def __init__(self, root: Path, *, keep: int = 2) -> None:
        self.root = root
        self.keep = keep

    def all(self) -> list[tuple[int, Path]]:
        """Complete checkpoints, oldest first."""
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.iterdir():
            match = _NAME.match(path.name)
            if match and (path / STATE_FILE).is_file():
                found.append((int(match.group(1)), path))
        return sorted(found)

    def latest(self) -> tuple[int, Path] | None:
        found = self.all()
        return found[-1] if found else None

    def write(self, step: int, fill: Callable[[Path], None]) -> Path:
        """`fill` writes into a scratch folder that becomes `step-N` once it returns."""
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / f"step-{step:08d}"
        scratch = self.root / f".partial-{step:08d}"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        fill(scratch)
        if final.exists():  # a try that died after renaming wrote the same step
            shutil.rmtree(final)
        scratch.rename(final)
        for _, old in self.all()[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def remove_partials(self) -> None:
        """Scratch folders a killed try left behind."""
        if self.root.is_dir():
            for path in self.root.glob(".partial-*"):
                shutil.rmtree(path, ignore_errors=True)
