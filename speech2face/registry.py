"""Named choices (voice-encoder presets, dataset importers, …) imported on first use.

A :class:`Registry` maps each name to ``"module:attribute"``, so that listing the names
(a parser's ``choices``, an error message) imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import Any

from speech2face.errors import InputError

UNKNOWN_NAME = "unknown {kind} {name!r}; available: {available}"


class Registry:
    """Names of one ``kind`` → objects loaded from ``"module:attribute"`` when asked for."""

    def __init__(self, kind: str, entries: Mapping[str, str]) -> None:
        self.kind = kind
        self._entries = dict(entries)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> Any:
        """The object registered as ``name``; an unknown name is an :class:`InputError`."""
        if name not in self._entries:
            available = ", ".join(self.names())
            raise InputError(UNKNOWN_NAME.format(kind=self.kind, name=name, available=available))
        module, attribute = self._entries[name].split(":")
        return getattr(import_module(module), attribute)
