"""Dataset importers: real dataset metadata → a manifest.

Each importer reads one dataset family's own files, maps its categories through
:mod:`speech2face.importers.vocabulary_map` (keeping the original values and
setting ``<column>_source``), and returns the manifest table; ``s2f import``
writes it. What an importer changes or leaves out is an
:class:`ImporterWarning`, never silent. :data:`IMPORTERS` names each dataset's importer;
importing this package imports no importer until one is used.
"""

from importlib import import_module
from typing import Any

from speech2face.registry import Registry

IMPORTERS = Registry(
    "dataset",
    {
        "voxceleb1": "speech2face.importers.voxceleb:import_voxceleb1",
        "voxceleb2": "speech2face.importers.voxceleb:import_voxceleb2",
        "avspeech": "speech2face.importers.avspeech:import_avspeech",
        "commonvoice": "speech2face.importers.commonvoice:import_commonvoice",
        "fairface": "speech2face.importers.fairface:import_fairface",
        "utkface": "speech2face.importers.utkface:import_utkface",
    },
)
"""Each dataset family's importer, ``IMPORTERS.get(name)(source, **options)``."""

_LAZY = {
    "ImporterWarning": "speech2face.importers._common",
    "import_avspeech": "speech2face.importers.avspeech",
    "import_commonvoice": "speech2face.importers.commonvoice",
    "import_fairface": "speech2face.importers.fairface",
    "import_utkface": "speech2face.importers.utkface",
    "import_voxceleb": "speech2face.importers.voxceleb",
}

__all__ = ["IMPORTERS", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_LAZY[name]), name)
