"""Optional extras: import a backend's module, or fail with one line naming the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from speech2face.errors import InputError

MISSING_EXTRA = "{feature} needs {module!r}: install speech2face-audit[{extra}]"


def require_extra(
    module: str, extra: str, *, feature: str | None = None, then: str | None = None
) -> ModuleType:
    """``module`` imported, or an :class:`InputError` naming the extra that provides it.

    ``then``: a second install step the extra needs (appended to the one line).
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        message = MISSING_EXTRA.format(feature=feature or module, module=module, extra=extra)
        raise InputError(message + (f", then {then}" if then else "")) from None
