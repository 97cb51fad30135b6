"""Pretrained GE2E speaker embeddings with Resemblyzer (the ``voices`` extra).

Resemblyzer's voice encoder (Wan et al. 2018, GE2E loss; 3-layer LSTM over
40-band mel frames) maps 1.6 s windows of 16 kHz speech to 256-D unit vectors;
an utterance's embedding is the normalised mean over windows at 1.3 windows per
second. It was trained on LibriSpeech, VoxCeleb1 and VoxCeleb2 (mostly English,
read and interview speech): expect it to separate speakers less well in other
languages, on children's and on telephone-band voices.

:func:`embed_waveforms` follows Resemblyzer's own preprocessing (volume raised to
−30 dBFS, long silences cut with WebRTC VAD). :class:`GE2EFromSpectrogram`
computes the same embedding from the Speech2Face front end's compressed
spectrogram (power-law compression undone, power summed into Resemblyzer's mel
bands, volume normalised from the frame energies), so that a voice-encoder
preset can put it in front of a trained head; it does no silence trimming.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from speech2face.audio.frontend import PAPER_CONFIG, SpectrogramConfig
from speech2face.audio.io import load_audio
from speech2face.backends._extras import require_extra

EXTRA = "voices"
EMBEDDING_DIM = 256
SAMPLE_RATE = 16000
MEL_BANDS = 40
WINDOW_FRAMES = 160
WINDOWS_PER_SECOND = 1.3
TARGET_DBFS = -30.0


RESEMBLYZER_STEP = "`pip install --no-deps resemblyzer==0.1.4`"
"""Resemblyzer is not in the extra: its metadata asks for ``webrtcvad``, a C build, whose module
the extra's ``webrtcvad-wheels`` ships prebuilt; ``--no-deps`` installs it without that build."""


@cache
def _resemblyzer():
    require_extra("webrtcvad", EXTRA, feature="GE2E speaker embeddings")
    return require_extra(
        "resemblyzer", EXTRA, feature="GE2E speaker embeddings", then=RESEMBLYZER_STEP
    )


def load_ge2e() -> nn.Module:
    """Resemblyzer's pretrained voice encoder on the CPU, frozen, in eval mode."""
    encoder = _resemblyzer().VoiceEncoder(device="cpu", verbose=False).eval()
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    return encoder


def embed_waveforms(
    waves: Sequence[np.ndarray], *, sample_rate: int, encoder: nn.Module | None = None
) -> np.ndarray:
    """``(n, 256)`` GE2E embeddings of mono waveforms (any rate; resampled to 16 kHz)."""
    resemblyzer = _resemblyzer()
    encoder = encoder or load_ge2e()
    embeddings = []
    for wave in waves:
        prepared = resemblyzer.preprocess_wav(np.asarray(wave, np.float32), source_sr=sample_rate)
        embeddings.append(encoder.embed_utterance(prepared))
    return np.asarray(embeddings, dtype=np.float32).reshape(len(embeddings), EMBEDDING_DIM)


def embed_files(paths: Sequence[str | Path], *, encoder: nn.Module | None = None) -> np.ndarray:
    """``(n, 256)`` GE2E embeddings of audio files, decoded by the toolkit's loader."""
    encoder = encoder or load_ge2e()
    waves = [load_audio(path, sample_rate=SAMPLE_RATE) for path in paths]
    return embed_waveforms(waves, sample_rate=SAMPLE_RATE, encoder=encoder)


def mel_filterbank(config: SpectrogramConfig = PAPER_CONFIG) -> torch.Tensor:
    """Resemblyzer's 40 Slaney mel bands on the front end's FFT grid, ``(bins, 40)``.

    Zero-padding the 400-sample frame to 512 points samples the same spectrum
    more finely, so each band sums ``n_fft / win_length`` times more bins; the
    bank is scaled back by that ratio.
    """
    librosa = require_extra("librosa", EXTRA, feature="GE2E speaker embeddings")
    bank = librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=MEL_BANDS)
    return torch.from_numpy(bank.T * (config.win_length / config.n_fft)).float()


class GE2EFromSpectrogram(nn.Module):
    """Front-end spectrogram ``(B, T, F, 2)`` → frozen GE2E embedding ``(B, 256)``."""

    def __init__(self, config: SpectrogramConfig = PAPER_CONFIG) -> None:
        super().__init__()
        self.config = config
        self.encoder = load_ge2e()
        self.register_buffer("mel", mel_filterbank(config), persistent=False)
        window = torch.hann_window(config.win_length, dtype=torch.float64)
        self.window_energy = float((window**2).sum())
        self.frame_step = round(SAMPLE_RATE / WINDOWS_PER_SECOND / config.hop_length)

    def train(self, mode: bool = True) -> GE2EFromSpectrogram:
        super().train(mode)
        self.encoder.eval()  # frozen: never leaves eval mode
        return self

    @torch.no_grad()
    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:
        # Float32 throughout, even under a trainer's autocast: the powers span many decades.
        with torch.autocast(spectrogram.device.type, enabled=False):
            return self._embed(spectrogram.float())

    def _embed(self, parts: torch.Tensor) -> torch.Tensor:
        linear = parts.abs().pow(1 / self.config.power)
        power = (linear**2).sum(dim=-1)  # |S|² per frame and bin
        mels = power @ self.mel
        mels = mels * self._volume_gain(power)[:, None, None]
        windows = self._windows(mels)  # (B, W, 160, 40)
        batch, count = windows.shape[:2]
        partial = self.encoder(windows.reshape(batch * count, WINDOW_FRAMES, MEL_BANDS))
        mean = partial.reshape(batch, count, -1).mean(dim=1)
        return mean / mean.norm(dim=1, keepdim=True)

    def _volume_gain(self, power: torch.Tensor) -> torch.Tensor:
        """Power gain that raises each clip to −30 dBFS (never lowers it), as Resemblyzer does."""
        one_sided = 2 * power.sum(dim=-1) - power[..., 0] - power[..., -1]
        mean_square = one_sided.mean(dim=1) / (self.config.n_fft * self.window_energy)
        change_db = TARGET_DBFS - 10 * torch.log10(mean_square.clamp_min(1e-12))
        return torch.pow(10.0, change_db.clamp_min(0) / 10)

    def _windows(self, mels: torch.Tensor) -> torch.Tensor:
        frames = mels.shape[1]
        if frames < WINDOW_FRAMES:
            mels = torch.nn.functional.pad(mels, (0, 0, 0, WINDOW_FRAMES - frames))
            frames = WINDOW_FRAMES
        return mels.unfold(1, WINDOW_FRAMES, self.frame_step).transpose(2, 3)
