"""Just enough RIFF/WAVE header parsing to explain why libsndfile refused a file.

libsndfile silently shortens a WAV whose ``data`` chunk claims more bytes than
the file holds, and answers an unknown sample format with a generic message.
Reading the header ourselves turns both into a precise reason.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

# WAVE format tags libsndfile decodes (PCM, float, A-law, µ-law, ADPCMs, GSM, extensible).
_FORMAT_NAMES = {
    0x0001: "PCM",
    0x0002: "MS ADPCM",
    0x0003: "IEEE float",
    0x0006: "A-law",
    0x0007: "µ-law",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0xFFFE: "extensible",
}
_VALID_BITS = {0x0001: {8, 16, 24, 32}, 0x0003: {32, 64}}
_STREAMING_SIZES = {0, 0xFFFFFFFF}  # placeholders written by recorders that never rewound


@dataclass(frozen=True)
class WaveHeader:
    """The facts of a WAVE header that explain a decoding failure."""

    format_tag: int | None
    bits_per_sample: int | None
    data_bytes_declared: int | None
    data_bytes_present: int | None

    @property
    def is_truncated(self) -> bool:
        if self.data_bytes_declared is None or self.data_bytes_present is None:
            return False
        if self.data_bytes_declared in _STREAMING_SIZES:
            return False
        return self.data_bytes_present < self.data_bytes_declared

    @property
    def unsupported_format(self) -> str | None:
        """A description of the sample format when libsndfile cannot decode it, else None."""
        if self.format_tag is None:
            return None
        name = _FORMAT_NAMES.get(self.format_tag)
        if name is None:
            return f"WAVE format tag 0x{self.format_tag:04X}, {self.bits_per_sample} bits"
        allowed_bits = _VALID_BITS.get(self.format_tag)
        if allowed_bits is not None and self.bits_per_sample not in allowed_bits:
            return f"{name}, {self.bits_per_sample} bits"
        return None


def read_wave_header(path: Path) -> WaveHeader | None:
    """Parse the chunk list of a RIFF/WAVE file; None when the file is not one."""
    with path.open("rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        format_tag = bits = declared = present = None
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                break
            chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"fmt ":
                body = handle.read(size + (size & 1))
                if len(body) >= 16:
                    format_tag = struct.unpack("<H", body[0:2])[0]
                    bits = struct.unpack("<H", body[14:16])[0]
            elif chunk_id == b"data":
                declared = size
                present = len(handle.read(size))
                break
            else:
                handle.seek(size + (size & 1), 1)
    return WaveHeader(format_tag, bits, declared, present)
