"""In-process speech synthesis with libespeak-ng through ctypes.

The library and its voice data come from the ``espeakng-loader`` wheel.
libespeak-ng keeps hidden state between utterances (a pitch-flutter phase, an
automatic gain, a cycle counter) that survives even ``espeak_Terminate``, so the
same text would sound slightly different depending on what was said before.
Each utterance therefore runs in a fresh instance of the library: a private copy
is loaded with ``dlopen``, used once and unloaded (about 1 ms). The engine is
not thread-safe, so calls take one process-wide lock; worker processes, forked
or spawned, load their own instances.
"""

from __future__ import annotations

import _ctypes
import ctypes
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import espeakng_loader
import numpy as np

ESPEAK_SAMPLE_RATE = 22050  # libespeak-ng's fixed output rate
RANDOM_SEED = 0  # breathy voices draw noise from espeak's generator; a fixed seed repeats it

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_BUFFER_MS = 200
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_RATE, _VOLUME, _PITCH, _RANGE, _WORDGAP = 1, 2, 3, 4, 7
_EE_OK = 0

INIT_FAILED = "libespeak-ng failed to initialise with data at {path}"
UNKNOWN_VOICE = "espeak-ng has no voice {name!r} (language or variant unknown)"
SYNTH_FAILED = "espeak-ng failed to synthesise the text (error {code})"

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_SIGNATURES = {
    "espeak_Initialize": (
        [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int],
        ctypes.c_int,
    ),
    "espeak_SetSynthCallback": ([_SynthCallback], None),
    "espeak_SetVoiceByName": ([ctypes.c_char_p], ctypes.c_int),
    "espeak_SetParameter": ([ctypes.c_int, ctypes.c_int, ctypes.c_int], ctypes.c_int),
    "espeak_ng_SetRandSeed": ([ctypes.c_long], None),
    "espeak_Synth": (
        [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint),
            ctypes.c_void_p,
        ],
        ctypes.c_int,
    ),
    "espeak_Terminate": ([], ctypes.c_int),
}


@dataclass(frozen=True)
class EspeakSettings:
    """What espeak-ng itself is told.

    ``voice`` is ``language`` or ``language+variant`` (``"en+m3"``); ``rate`` is
    words per minute (80–450); ``pitch`` and ``pitch_range`` are espeak's 0–100
    scales, where 50 is the voice's own base pitch and range.
    """

    voice: str
    rate: int = 175
    pitch: int = 50
    pitch_range: int = 50


_lock = threading.Lock()


def espeak_synthesize(text: str, settings: EspeakSettings) -> np.ndarray:
    """Synthesise ``text`` to float32 samples in [-1, 1) at `ESPEAK_SAMPLE_RATE` Hz.

    The same text and settings give identical samples, whatever came before.
    """
    chunks: list[np.ndarray] = []

    def collect(wav, num_samples: int, _events) -> int:
        if wav and num_samples > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        return 0  # continue synthesis

    callback = _SynthCallback(collect)
    encoded = text.encode("utf-8") + b"\0"
    with _lock, _fresh_library() as lib:
        lib.espeak_SetSynthCallback(callback)
        if lib.espeak_SetVoiceByName(settings.voice.encode()) != _EE_OK:
            raise ValueError(UNKNOWN_VOICE.format(name=settings.voice))
        lib.espeak_SetParameter(_RATE, int(settings.rate), 0)
        lib.espeak_SetParameter(_PITCH, int(settings.pitch), 0)
        lib.espeak_SetParameter(_RANGE, int(settings.pitch_range), 0)
        lib.espeak_SetParameter(_VOLUME, 100, 0)
        lib.espeak_SetParameter(_WORDGAP, 0, 0)
        lib.espeak_ng_SetRandSeed(RANDOM_SEED)
        code = lib.espeak_Synth(
            encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        if code != _EE_OK:
            raise RuntimeError(SYNTH_FAILED.format(code=code))
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    return samples.astype(np.float32) / 32768.0


@contextmanager
def _fresh_library() -> Iterator[ctypes.CDLL]:
    """A newly loaded, initialised libespeak-ng, unloaded on exit."""
    lib = _load_private_copy()
    try:
        for name, (argtypes, restype) in _SIGNATURES.items():
            function = getattr(lib, name)
            function.argtypes, function.restype = argtypes, restype
        data_path = espeakng_loader.get_data_path()
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, data_path.encode(), _INITIALIZE_DONT_EXIT
        )
        if rate != ESPEAK_SAMPLE_RATE:
            raise RuntimeError(INIT_FAILED.format(path=data_path))
        try:
            yield lib
        finally:
            lib.espeak_Terminate()
    finally:
        _ctypes.dlclose(lib._handle)


def _load_private_copy() -> ctypes.CDLL:
    """dlopen a temporary copy of the library, so no other loader shares its state.

    The copy is unlinked as soon as it is mapped; where the temporary folder
    forbids executable mappings, the wheel's own file is loaded instead.
    """
    source = espeakng_loader.get_library_path()
    handle, copy = tempfile.mkstemp(prefix="libespeak-ng-", suffix=".so")
    os.close(handle)
    try:
        shutil.copyfile(source, copy)
        return ctypes.CDLL(copy, mode=ctypes.RTLD_LOCAL)
    except OSError:
        return ctypes.CDLL(source, mode=ctypes.RTLD_LOCAL)
    finally:
        os.unlink(copy)


def _reset_lock_after_fork() -> None:
    """A forked child must not inherit a lock that a parent thread held at fork time."""
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_lock_after_fork)
