"""The decision model's caches, each with one owner and a declared type.

* ``LineCache``: the line templates, simulation components and exposure sets of one
  ``ModelInputs``. It is a field of those inputs, created empty with them (also by
  ``dataclasses.replace``), and every read and write goes through them (``model.line``), so a
  cache built from one set of inputs is never reused for another.
* ``EligibilityCache``: the regimens eligible in a state before those already received are
  removed. Eligibility depends on the catalogue and two options only, not on a posterior or
  parameter draw, so the inputs of every draw of one ``ModelSources`` share it; its keys hold
  the catalogue's identity and the options.
* ``LRU``: a bounded, thread-safe map, for the service's model sets and answers.

Each is bounded: a ``LineCache`` starts over past ``limit`` templates (a cohort model needs
about 3,000; the service's long-lived inputs gather more from the states it is asked about).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    from sequencer.model.line import LineComponents, LineOutcome, Template

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

LINE_CACHE_LIMIT = 50_000  # line templates kept per inputs before the cache starts over
ELIGIBILITY_LIMIT = 100_000  # eligibility sets kept per sources


class LRU(Generic[K, V]):
    """A bounded, thread-safe least-recently-used map."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"size: {size} must be >= 1")
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        value = self.get(key)
        if value is None:
            value = make()
            self.put(key, value)
        return value

    def __len__(self) -> int:
        return len(self._data)


TemplateKey = tuple  # (regimen, line, her2, cps, known, progressed, exposure, contraindications)


@dataclass
class LineCache:
    """What one ``ModelInputs`` has computed about lines (see ``sequencer.model.line``)."""

    limit: int = LINE_CACHE_LIMIT
    templates: dict[TemplateKey, Template] = field(default_factory=dict)
    components: dict[TemplateKey, LineComponents] = field(default_factory=dict)
    exposure: dict[tuple[frozenset[str], str], frozenset[str]] = field(default_factory=dict)
    supportive: LineOutcome | None = None

    def template(self, key: TemplateKey, make: Callable[[], Template]) -> Template:
        found = self.templates.get(key)
        if found is None:
            if len(self.templates) >= self.limit:
                self.clear()
            found = self.templates[key] = make()
        return found

    def clear(self) -> None:
        self.templates.clear()
        self.components.clear()
        self.exposure.clear()

    def __len__(self) -> int:
        return len(self.templates)


EligibilityKey = tuple  # (catalogue id, investigational, max lines, line, her2, cps, msi, ...)


@dataclass
class EligibilityCache:
    """Regimens eligible in a state before removing those received, shared by the inputs of
    one ``ModelSources`` (see the module docstring)."""

    limit: int = ELIGIBILITY_LIMIT
    entries: dict[EligibilityKey, tuple[str, ...]] = field(default_factory=dict)

    def get_or_make(self, key: EligibilityKey, make: Callable[[], tuple[str, ...]]
                    ) -> tuple[str, ...]:
        found = self.entries.get(key)
        if found is None:
            if len(self.entries) >= self.limit:
                self.entries.clear()
            found = self.entries[key] = make()
        return found
