"""Dataset importers: real dataset metadata → a manifest.

Each importer reads one dataset family's own files, maps its categories through
:mod:`speech2face.importers.vocabulary_map` (keeping the original values and
setting ``<column>_source``), and returns the manifest table; ``s2f import``
writes it. What an importer changes or leaves out is an
:class:`ImporterWarning`, never silent.
"""

from speech2face.importers._common import ImporterWarning
from speech2face.importers.avspeech import import_avspeech
from speech2face.importers.commonvoice import import_commonvoice
from speech2face.importers.fairface import import_fairface
from speech2face.importers.utkface import import_utkface
from speech2face.importers.voxceleb import import_voxceleb

__all__ = [
    "ImporterWarning",
    "import_avspeech",
    "import_commonvoice",
    "import_fairface",
    "import_utkface",
    "import_voxceleb",
]
