"""The registry of fine-tuning providers. A provider is one module that declares its
`PROVIDER`; adding one is that module and one line here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from jobdeck.activities.fine_tuning import ollama, openai, training
from jobdeck.activities.fine_tuning.provider import FineTuningProvider
from jobdeck.errors import InvalidInput


class ProviderRegistry:
    def __init__(self, providers: Iterable[FineTuningProvider]) -> None:
        self._by_name = {p.name: p for p in providers}

    def __iter__(self) -> Iterator[FineTuningProvider]:
        return iter(self._by_name.values())

    def get(self, name: str) -> FineTuningProvider | None:
        return self._by_name.get(name)

    def require(self, name: str) -> FineTuningProvider:
        """The provider by name; InvalidInput naming the known ones."""
        provider = self._by_name.get(name)
        if provider is None:
            known = ", ".join(self._by_name)
            raise InvalidInput(f"unknown fine-tuning provider {name!r}; known providers: {known}")
        return provider

    def label(self, name: str) -> str:
        """A provider's label; a name no longer registered (an old record) as it is."""
        provider = self._by_name.get(name)
        return provider.label if provider else name

    def options(self, name: str) -> list[str]:
        provider = self._by_name.get(name)
        return list(provider.options) if provider else []

    def for_job_type(self, job_type: str) -> list[FineTuningProvider]:
        return [p for p in self if p.job_type == job_type]


PROVIDERS = ProviderRegistry([openai.PROVIDER, ollama.PROVIDER, training.PROVIDER])
