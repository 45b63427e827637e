"""Every tunable setting of the runtime, typed and in one place: input caps, speech, live view.

* :class:`Limits`: input caps, shared by the Predictor, the CLI and the app. Defaults suit a public demo on two
  CPU cores; each can be changed with an environment variable (read once, at import) or per call
  (``Limits(max_seconds=600)``, the CLI's ``--max-seconds``).
* :class:`SpeechOptions`: how Whisper's words are decoded and which are kept (``features/speech.py``).
* :class:`LiveOptions`: the live view's window, update rates and incremental speech-to-text
  (``features/stream.py``, ``live.py``, the app).

What the caps mean:

* ``max_seconds``: audio and video are decoded up to this many seconds of *decoded* media (never the
  container's claimed duration); a longer file is analysed up to the cap and the result says so.
* ``max_file_mb``: files larger than this are refused before they are opened.
* ``max_text_chars``: longer typed text is refused (the text model reads at most ~250 words per window anyway).
* ``max_image_pixels``: images whose header declares more pixels are refused before any pixel is decoded
  (decompression bombs); large but allowed photos are downscaled while decoding.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return float(default)


@dataclass(frozen=True)
class Limits:
    """Input caps (see the module docstring)."""

    max_seconds: float = _env("TAILOR_MAX_SECONDS", 120.0)
    max_file_mb: float = _env("TAILOR_MAX_FILE_MB", 50.0)
    max_text_chars: int = int(_env("TAILOR_MAX_TEXT_CHARS", 2000))
    max_image_pixels: int = int(_env("TAILOR_MAX_IMAGE_PIXELS", 40_000_000))

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


#: The caps used when none are given.
DEFAULT_LIMITS = Limits()

#: Whisper's classic inventions on noise or music; dropped when the segment is also rated possibly non-speech.
HALLUCINATIONS: frozenset[str] = frozenset({
    "you", "thank you", "thanks for watching", "thank you for watching", "thank you very much", "bye",
    "please subscribe", "subscribe", "so", "oh", "uh", "um", "hmm", "the end", "music", "applause",
})


@dataclass(frozen=True)
class SpeechOptions:
    """Speech to text with Whisper: decoding, and the rules that keep invented words out of the transcript.

    A segment is dropped when Whisper rates it as probably not speech (``no_speech_prob`` over
    ``no_speech_hard_drop``, or over ``no_speech_drop`` with ``avg_logprob`` under ``logprob_drop``: Whisper's
    own silence rule), as almost surely invented (``avg_logprob`` under ``logprob_hard_drop``, compression ratio
    over ``max_compression_ratio``: repeated text), or as a known hallucination (``hallucinations``) with
    ``no_speech_prob`` over ``hallucination_no_speech``. A word is dropped when its probability is under
    ``min_word_prob`` or its midpoint is farther than ``speech_margin`` seconds from every region where the
    voice-activity detector hears speech. When the kept words' mean probability is under ``min_mean_word_prob``
    the speech is taken as not English (or not clear) and no word is used.
    """

    compute_type: str = "int8"  # CTranslate2 weights on the CPU (a GPU uses int8_float16)
    beam_size: int = 1  # greedy: nearly the same words as a beam search, at a fraction of its cost
    no_speech_drop: float = 0.6
    logprob_drop: float = -1.0
    no_speech_hard_drop: float = 0.75
    logprob_hard_drop: float = -2.0
    max_compression_ratio: float = 2.4
    hallucinations: frozenset[str] = HALLUCINATIONS
    hallucination_no_speech: float = 0.3
    min_word_prob: float = 0.05
    #: Whisper tiny.en reads English only: speech in another language comes out as English-sounding nonsense
    #: with low word probabilities (English speech: a mean of ~0.95; reversed speech, a stand-in: 0.2-0.4).
    #: Under this mean the words are not used, and the result says why.
    min_mean_word_prob: float = 0.6
    min_seconds: float = 0.3  # shorter audio is not sent to Whisper
    speech_margin: float = 0.3


@dataclass(frozen=True)
class LiveOptions:
    """The live view: its window, how often it updates, and how speech is transcribed as it arrives.

    Voice features: each update encodes only the steps not yet final, with up to ``voice_context_seconds`` of
    earlier audio as context, in one Whisper pass padded to ``voice_pad_seconds`` (a longer window reads a voice
    better and costs more per update; the voice readout is fitted on this window too, see docs/encoders.md). Speech to
    text runs on new audio every ``asr_every_seconds``; words two passes agree on that end at a pause
    (``asr_pause_seconds``) at least ``asr_stable_seconds`` before the newest audio are final. Words at a cut
    inside speech (``asr_edge_seconds``, ``asr_edge_db``) are left out until a pass hears them whole.
    """

    window_seconds: float = 6.0  # what one update scores
    update_seconds: float = 0.75  # the app scores at most this often
    frame_every: float = 0.25  # the app's webcam frame interval
    audio_every: float = 0.5  # the app's microphone chunk interval
    time_limit: int = int(_env("TAILOR_LIVE_TIME_LIMIT", 600))  # seconds one live stream may run in the app
    idle_seconds: float = 120.0  # the app closes a session with no input for this long
    history_seconds: float = 60.0  # smoothed scores kept for the live timeline
    # TAILOR learned voices from single recordings, each encoded alone: a pass that holds more of a speaker's
    # earlier talk gives states unlike those (docs/encoders.md, "A speaker talking on")
    voice_context_seconds: float = 2.0
    voice_pad_seconds: float = 20.0
    asr_every_seconds: float = 2.0
    asr_stable_seconds: float = 1.0
    asr_max_pending_seconds: float = 20.0  # never re-transcribe more than this
    asr_pause_seconds: float = 0.3
    # a pass's audio cut inside sound (its edge's 30 ms within asr_edge_db of its loudest): the words it heard
    # within asr_edge_seconds of a start cut (the microphone opened mid-word), or within asr_stable_seconds of an end
    # cut and not yet heard alike by the previous pass, are guesses at a part of a word; they are left out
    asr_edge_seconds: float = 0.3
    asr_edge_db: float = -26.0
    gap_fill_seconds: float = 0.25  # audio timestamps this far ahead of the sample clock: filled with silence
    keep_extra_seconds: float = 2.0  # history kept beyond the window
    transcript_words: int = 60  # committed words kept for the running transcript
    voice_wait_seconds: float = 0.5  # a background update waits this long for its voice pass (the next takes it up)
    updater_idle_seconds: float = 2.0  # the background scorer stops after this long without input
    asr_max_share: float = 0.5  # background transcription takes at most this share of the wall clock
    timeline_every: float = 2.0  # the app redraws the live "last minute" chart this often
    show_wait: float = 0.2  # the app's frame handler waits this long for an update to show


__all__ = ["DEFAULT_LIMITS", "HALLUCINATIONS", "Limits", "LiveOptions", "SpeechOptions"]
