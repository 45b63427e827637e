"""``StreamExtractor``: features of the last ``window_seconds`` of a live webcam + microphone stream.

Frames and audio chunks are pushed as they arrive (Gradio delivers RGB frames and ``(48000, int16)`` chunks);
:meth:`StreamExtractor.bundle` returns the rolling window on the same step grid as a file, so a clip pushed chunk by
chunk gives (nearly) the same features as :meth:`FeatureExtractor.clip` on it. Times are seconds since the stream
started (the bundle's ``times`` are absolute stream times).

Cost is incremental (the settings are :class:`~tailor_core.options.LiveOptions`): faces are computed once per
sampled frame (at most ``VIDEO_FPS`` per second, big frames downscaled), voice features (Whisper encoder states)
once per update for the steps not yet final, with up to ``voice_context_seconds`` of earlier audio as context
(one encoder pass; final steps are cached), and speech-to-text runs on new audio every ``asr_every_seconds`` in a
background thread: words that two passes agree on and that end at a pause more than ``asr_stable_seconds``
before the newest audio are committed and never re-transcribed; the others are shown as tentative until a later
pass confirms or corrects them. Where a pass's audio is cut inside speech (the microphone opened mid-word, or the
newest chunk ends mid-word) the words heard at the cut are guesses at part of a word ("...king" heard as a whole
word that was never said): those are left out (:meth:`StreamExtractor._edge_words`).

Threads: the buffers are guarded by one lock that no model call holds, so a frame's face, a voice encoder pass
and a transcription never hold up an audio chunk. A live view bounds the voice pass (``bundle(voice_wait=...)``):
the pass runs in a thread, a slower one is taken up by the next bundle; speech to text never runs more than
``LiveOptions.asr_max_share`` of the time.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque

import numpy as np

from ..options import LiveOptions
from .align import assemble
from .audio import to_mono_float
from .bundle import FeatureBundle
from .errors import FeatureError
from .grid import SAMPLE_RATE, STEP_SECONDS, n_steps_for
from .lifetime import Closeable
from .speech import SpeechRecognizer
from .text import TEXT_DIM, TextEncoder
from .visual import VIDEO_FPS, FaceAnalyzer, FrameSampler, downscale, to_rgb_uint8
from .voice_states import AUDIO_DIM, FRAME_SAMPLES, pool_steps

STEP_SAMPLES: int = int(STEP_SECONDS * SAMPLE_RATE)
DEFAULT_LIVE = LiveOptions()


class StreamExtractor(Closeable):
    """Rolling-window feature extraction for live input, given the (shared) models it needs.

    ``speech`` gives the voice features and, with ``transcribe=True``, the words; ``window_seconds`` defaults to
    ``options.window_seconds``. :meth:`FeatureExtractor.stream` makes one from its models.
    """

    def __init__(
        self,
        faces: FaceAnalyzer,
        speech: SpeechRecognizer,
        text_encoder: TextEncoder,
        window_seconds: float | None = None,
        transcribe: bool = True,
        background: bool = True,
        fps: float = VIDEO_FPS,
        options: LiveOptions = DEFAULT_LIVE,
    ) -> None:
        if window_seconds is None:
            window_seconds = options.window_seconds
        if window_seconds <= 0:
            raise FeatureError("window_seconds must be positive")
        self.faces, self.speech, self.text_encoder = faces, speech, text_encoder
        self.options = options
        self.window_seconds = float(window_seconds)
        self.transcribe = transcribe
        self.background = background
        self.fps = fps
        self._lock = threading.RLock()  # the buffers; never held while a model runs
        # the face tracker: one frame at a time, in arrival order (taken before _lock, never after it)
        self._face_lock = threading.Lock()
        self._tracker = None
        # the open tracker, for the finaliser of a stream dropped unclosed (it must not reference self); at exit
        # MediaPipe shuts itself down, so the finaliser is not run then
        self._holder: list = []
        weakref.finalize(self, _close_soon, self._holder).atexit = False
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget everything (new stream, time restarts at 0). Waits for a face being analysed (not for speech to
        text)."""
        with self._face_lock, self._lock:
            # a speech-to-text pass still running belongs to the old stream: its result is dropped (never join
            # it here: it needs this lock to finish)
            self._generation = getattr(self, "_generation", 0) + 1
            if self._tracker is not None:
                self._tracker.close()
            self._tracker = None
            self._holder.clear()
            self._t0: float | None = None
            self._sampler = FrameSampler(self.fps)
            self._faces: deque[tuple[float, np.ndarray | None]] = deque()
            self._last_frame_t = 0.0
            self._n_frames = 0
            self._frame_dt = 1.0 / self.fps  # interval between input frames (a frame covers [t, t + dt))
            self._audio = np.zeros(0, np.float32)  # 16 kHz samples from absolute sample _audio_start
            self._audio_start = 0
            self._audio_end = 0  # absolute index one past the newest sample
            self._audio_first = 0  # absolute index of the first sample
            self._has_audio = False
            self._resampler = None
            self._in_rate: int | None = None
            self._step_cache: dict[int, np.ndarray] = {}
            self._step_partial: dict[int, np.ndarray] = {}  # the last pass's steps whose audio was not complete
            self._voice_thread: threading.Thread | None = None  # a voice encoder pass running (bundle's voice_wait)
            self._voice_error: BaseException | None = None
            self._words: list[tuple[str, float, float]] = []  # committed, inside the window
            # committed, for the running transcript
            self._heard: deque[str] = deque(maxlen=self.options.transcript_words)
            self._vecs: list[np.ndarray] = []
            self._tentative: list[tuple[str, float, float]] = []
            self._tentative_vecs = np.zeros((0, TEXT_DIM), np.float32)
            self._tentative_shown = 0  # how many of the tentative words are shown and scored (_edge_words)
            self._asr_from = 0  # absolute sample where not-yet-committed speech starts
            self._asr_from_pause = False  # whether _asr_from was chosen in a pause (not the microphone's first sample)
            self._asr_last_end = 0
            self._asr_thread: threading.Thread | None = None
            self._asr_error: BaseException | None = None
            self._asr_next = 0.0  # monotonic time before which no background pass starts (options.asr_max_share)

    def prepare(self) -> None:
        """Create the face tracker now (a live view calls this on Start, so the first frame is not slowed by it)."""
        with self._face_lock:
            self._ensure_tracker()

    def _ensure_tracker(self):
        """The face tracker, created if needed (with ``_face_lock`` held: creating one takes a while, and audio
        chunks and updates must not wait for it). A tracker closed by its :class:`FaceAnalyzer` (e.g.
        ``FeatureExtractor.close()``) is replaced."""
        if self._tracker is None or self._tracker.closed:
            tracker = self.faces.tracker()
            with self._lock:
                self._tracker = tracker
                self._holder[:] = [tracker]
        return self._tracker

    def _now(self, t: float | None) -> float:
        if t is not None:
            if self._t0 is None:
                self._t0 = time.monotonic() - float(t)
            return float(t)
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        return now - self._t0

    def clock(self) -> float:
        """Stream time now: seconds since the stream started (what a frame or chunk pushed now with ``t=None``
        gets; starts the clock if nothing has arrived yet)."""
        with self._lock:
            return self._now(None)

    # ------------------------------------------------------------------ input
    def add_frame(self, rgb: np.ndarray, t: float | None = None) -> None:
        """Push one RGB (or gray) frame taken at ``t`` seconds since the stream start (None: wall clock)."""
        if rgb is None:
            return
        # The face is found outside the buffer lock, so audio chunks and updates never wait for it; the frame
        # joins the stream (its time and its face together) once its face is known.
        with self._face_lock:
            with self._lock:
                t = self._now(t)
                generation = self._generation
                take = self._sampler.take(t)
            face = None
            if take:
                face = self._ensure_tracker()(downscale(to_rgb_uint8(rgb)), t)
            with self._lock:
                if generation != self._generation:  # reset meanwhile
                    return
                if self._n_frames and t > self._last_frame_t:
                    self._frame_dt = min(t - self._last_frame_t, 1.0 / self.fps)
                self._n_frames += 1
                self._last_frame_t = max(self._last_frame_t, t)
                if take:
                    self._faces.append((t, face))
                    self._prune()

    def add_audio(self, chunk: np.ndarray, sample_rate: int, t: float | None = None) -> None:
        """Push an audio chunk (any rate; [n], [n, ch] or [ch, n]; int16/int32/float) starting at ``t``
        seconds.

        With ``t=None`` chunks are assumed contiguous (the first one ends now on the wall clock).
        """
        if chunk is None or np.asarray(chunk).size == 0:
            return
        import soxr

        y = to_mono_float(chunk)
        sample_rate = int(sample_rate)
        if sample_rate <= 0:
            raise FeatureError(f"invalid sample rate {sample_rate}")
        with self._lock:
            if t is None and not self._has_audio:
                t = max(0.0, self._now(None) - len(y) / sample_rate)
            elif t is not None:
                t = self._now(t)
            if sample_rate != self._in_rate:
                self._in_rate = sample_rate
                self._resampler = (
                    None
                    if sample_rate == SAMPLE_RATE
                    else soxr.ResampleStream(sample_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
                )
            y16 = y if self._resampler is None else self._resampler.resample_chunk(y)
            if not self._has_audio:
                self._has_audio = True
                lead = round((t or 0.0) * SAMPLE_RATE)
                self._audio_start = self._audio_end = self._asr_from = self._asr_last_end = lead
                self._audio_first = lead
            elif t is not None:
                gap = round(t * SAMPLE_RATE) - self._audio_end
                if gap > self.options.gap_fill_seconds * SAMPLE_RATE:  # chunks were lost: keep the clock honest
                    self._append(np.zeros(gap, np.float32))
            self._append(y16.astype(np.float32, copy=False))
            self._prune()

    def _append(self, y: np.ndarray) -> None:
        self._audio = np.concatenate([self._audio, y])
        self._audio_end += len(y)

    def _end_time(self) -> float:
        video_end = self._last_frame_t + self._frame_dt if self._n_frames else 0.0
        return max(video_end, self._audio_end / SAMPLE_RATE if self._has_audio else 0.0)

    def _window_start_step(self, end_time: float) -> int:
        return max(0, n_steps_for(end_time) - round(self.window_seconds / STEP_SECONDS))

    def _prune(self) -> None:
        end = self._end_time()
        keep_from = max(0.0, self._window_start_step(end) * STEP_SECONDS - self.options.keep_extra_seconds)
        while self._faces and self._faces[0][0] < keep_from:
            self._faces.popleft()
        keep_sample = min(int(keep_from * SAMPLE_RATE), self._asr_from if self.transcribe else 1 << 62)
        keep_sample = max(
            keep_sample,
            self._audio_end
            - int(self.options.asr_max_pending_seconds * SAMPLE_RATE)
            - int((self.window_seconds + self.options.keep_extra_seconds) * SAMPLE_RATE),
        )
        drop = keep_sample - self._audio_start
        if drop > 0:
            self._audio = self._audio[drop:]
            self._audio_start += drop
        first = int(keep_from / STEP_SECONDS)
        for k in [k for k in self._step_cache if k < first]:
            del self._step_cache[k]
        if self._words and self._words[0][2] < keep_from:
            keep = [i for i, w in enumerate(self._words) if w[2] >= keep_from]
            self._words = [self._words[i] for i in keep]
            self._vecs = [self._vecs[i] for i in keep]

    # ------------------------------------------------------------------ audio features
    def _voice_plan(self, first_step: int, n_steps: int, encode: bool = True) -> tuple | None:
        """What :meth:`_voice` needs, taken under the lock: None when no step has audio, else (first step, k
        steps, the cached vectors, the steps to encode, the audio to encode from absolute sample a0, a0, the
        newest sample). ``encode=False``: no encoder pass; the steps the passes so far gave are reused (complete
        or not) and the steps after them are left out."""
        if not self._has_audio:
            return None
        k = min(n_steps, n_steps_for(self._audio_end / SAMPLE_RATE) - first_step)
        if k <= 0:
            return None
        if not encode:
            known = {**self._step_partial, **self._step_cache}
            cached = {}
            for s in range(first_step, first_step + k):
                if s not in known:
                    break
                cached[s] = known[s]
            return (first_step, len(cached), cached, [], None, 0, self._audio_end) if cached else None
        cached = {s: self._step_cache[s] for s in range(first_step, first_step + k) if s in self._step_cache}
        todo = [s for s in range(first_step, first_step + k) if s not in cached]
        audio, a0 = None, 0
        if todo:
            start = todo[0] * STEP_SAMPLES
            pad = self.options.voice_pad_seconds
            a0 = max(self._audio_start, start - int(self.options.voice_context_seconds * SAMPLE_RATE),
                     min(start, self._audio_end - int(pad * SAMPLE_RATE)))
            a0 += (-a0) % FRAME_SAMPLES  # frames on the stream's absolute 20 ms grid, as for a file
            audio = self._audio[a0 - self._audio_start:]  # never written in place: appends make a new array
        return first_step, k, cached, todo, audio, a0, self._audio_end

    def _voice(self, plan: tuple | None, generation: int) -> np.ndarray | None:
        """[k, AUDIO_DIM] for steps first_step.. (k <= n_steps: only steps that have audio), run without the lock.

        Steps whose audio is complete are cached; the others (normally the last one or two) are encoded again
        at the next update with the newer audio, in one Whisper pass that starts up to
        ``voice_context_seconds`` before them (padded to ``voice_pad_seconds``: the pass costs the same for any
        audio up to that length)."""
        if plan is None:
            return None
        first_step, k, cached, todo, audio, a0, audio_end = plan
        out = np.zeros((k, AUDIO_DIM), np.float32)
        if todo:
            states = self.speech.states(audio, self.options.voice_pad_seconds)
            pooled, mask = pool_steps(states, first_step + k, first_frame=a0 // FRAME_SAMPLES)
            final, partial = {}, {}
            for s in todo:
                out[s - first_step] = pooled[s]
                if mask[s] and (s + 1) * STEP_SAMPLES <= audio_end:
                    final[s] = pooled[s]
                else:
                    partial[s] = pooled[s]
            with self._lock:
                if generation == self._generation:
                    self._step_cache.update(final)
                    self._step_partial = partial
        for s, vec in cached.items():
            out[s - first_step] = vec
        return out

    def _voice_within(self, first_step: int, n_steps: int, generation: int, wait: float,
                      transcribe: bool = False) -> np.ndarray | None:
        """The voice of steps first_step.. with an encoder pass in a thread, waited for at most ``wait`` s (see
        :meth:`bundle`); a pass still running from an earlier call is waited for first, then one for the newest
        audio if time is left. ``transcribe``: once the pass is on its way, start a speech-to-text pass if one is
        due (its voice activity detection comes first, so the voice pass reaches the shared Whisper model
        first, and the transcription has the time until the next update)."""
        deadline = time.monotonic() + max(0.0, wait)
        mine = None
        while True:
            with self._lock:
                if generation != self._generation:
                    return None
                if self._voice_error is not None:
                    err, self._voice_error = self._voice_error, None
                    raise FeatureError(f"live voice features failed: {err}") from err
                running = self._voice_thread
                if running is None and mine is None:
                    plan = self._voice_plan(first_step, n_steps)
                    if plan is not None and plan[3]:  # steps to encode
                        running = mine = self._voice_thread = threading.Thread(
                            target=self._voice_background, args=(plan, generation),
                            daemon=False,  # a native Whisper call killed mid-way at exit aborts the process
                            name="tailor-stream-voice")
                        mine.start()
            if transcribe:
                transcribe = False
                self.transcribe_if_due()
            if running is None:
                break
            running.join(max(0.0, deadline - time.monotonic()))
            if running.is_alive() or running is mine:
                break
        with self._lock:
            if generation != self._generation:
                return None
            plan = self._voice_plan(first_step, n_steps, encode=False)
        return self._voice(plan, generation)

    def _voice_background(self, plan: tuple, generation: int) -> None:
        try:
            self._voice(plan, generation)
        except BaseException as e:  # noqa: BLE001 - reported by the next bundle()
            with self._lock:
                if generation == self._generation:
                    self._voice_error = e
        finally:
            with self._lock:
                if self._voice_thread is threading.current_thread():
                    self._voice_thread = None

    # ------------------------------------------------------------------ speech
    def _asr_due(self) -> bool:
        return (
            self.transcribe
            and self._has_audio
            and self._asr_thread is None
            and self._audio_end - self._asr_last_end >= self.options.asr_every_seconds * SAMPLE_RATE
            and (not self.background or time.monotonic() >= self._asr_next)
        )

    def transcribe_if_due(self) -> bool:
        """Start a background speech-to-text pass if one is due (enough new audio, none running, and the last
        one's share of the clock allows it); True if one started. A live view calls this right after an update,
        so that the pass runs beside the update and never before it."""
        with self._lock:
            if not self._asr_due():
                return False
            return self._start_asr(final=False) is not None

    def _asr_run(self, audio: np.ndarray, start: int, end: int, final: bool, generation: int,
                 from_pause: bool = True) -> None:
        began = time.monotonic()
        try:
            words = self.speech.transcribe(audio, offset=start / SAMPLE_RATE)
            start_cut, end_cut = _cut_in_sound(audio, self.options.asr_edge_db)
            if start_cut and not from_pause:  # the microphone opened mid-word: its rest is not a word
                words = [w for w in words if w[1] >= start / SAMPLE_RATE + self.options.asr_edge_seconds]
            vecs = self.text_encoder.encode_words([w[0] for w in words])
        except BaseException as e:  # noqa: BLE001 - reported by bundle()
            with self._lock:
                if generation == self._generation:
                    self._asr_error = e
                    self._asr_thread = None
            return
        with self._lock:
            if generation != self._generation:  # the stream was reset meanwhile
                return
            previous = [w[0] for w in self._tentative]
            n_commit, cut = self._commit_point(words, start, end, final, previous, self.options)
            self._words.extend(words[:n_commit])
            self._heard.extend(w[0] for w in words[:n_commit])
            self._vecs.extend(list(vecs[:n_commit]))
            self._tentative = list(words[n_commit:])
            self._tentative_vecs = vecs[n_commit:]
            self._tentative_shown = self._edge_words(words, n_commit, end, previous, end_cut and not final,
                                                     self.options)
            if cut > self._asr_from:  # a forced commit cuts anywhere, the others in a pause or in silence
                self._asr_from_pause = not _forced(start, end, final, self.options)
            self._asr_from = max(self._asr_from, cut)
            self._asr_last_end = end
            self._asr_thread = None
            self._asr_next = began + (time.monotonic() - began) / self.options.asr_max_share

    @staticmethod
    def _commit_point(
        words: list[tuple[str, float, float]], start: int, end: int, final: bool,
        previous: list[str] | None = None, options: LiveOptions = DEFAULT_LIVE,
    ) -> tuple[int, int]:
        """How many words are final, and the sample from which the next pass must re-transcribe.

        A word is committed only when (1) the previous pass, which started at the same sample, heard the same words up
        to it (*local agreement*: a word guessed from a chunk cut mid-sentence is not final until the next, longer
        pass confirms it), and (2) it ends at a pause (>= ``options.asr_pause_seconds`` between words, or after the
        last word) at least ``options.asr_stable_seconds`` before the newest audio, so the next pass starts in
        silence, never inside a word. ``previous=None`` skips the agreement test.
        """
        if _forced(start, end, final, options):
            return len(words), end
        stable = end / SAMPLE_RATE - options.asr_stable_seconds
        if not words:  # silence: skip it, keeping a little audio in case speech is starting
            return 0, max(start, int(stable * SAMPLE_RATE))
        agreed = len(words) if previous is None else _agreed(words, previous)
        best = (0, start)
        for i, w in enumerate(words[:agreed]):
            nxt = words[i + 1][1] if i + 1 < len(words) else end / SAMPLE_RATE
            pause_end = min(nxt, stable)
            if w[2] <= stable and pause_end - w[2] >= options.asr_pause_seconds:
                best = (i + 1, int(0.5 * (w[2] + pause_end) * SAMPLE_RATE))
        return best

    @staticmethod
    def _edge_words(words: list[tuple[str, float, float]], n_commit: int, end: int, previous: list[str],
                    end_cut: bool, options: LiveOptions = DEFAULT_LIVE) -> int:
        """How many of a pass's tentative words (``words[n_commit:]``) are shown and scored. All of them, unless the
        pass's audio ends inside sound (``end_cut``): then a word ending within ``options.asr_stable_seconds`` of the
        end is shown only if the previous pass heard the same words up to it (a cut word, guessed from its first
        part, is rarely heard alike by the next, longer pass), and none after the first that is not."""
        if not end_cut:
            return len(words) - n_commit
        recent, agreed = end / SAMPLE_RATE - options.asr_stable_seconds, _agreed(words, previous)
        shown = n_commit
        for i in range(n_commit, len(words)):
            if words[i][2] > recent and i >= agreed:
                break
            shown = i + 1
        return shown - n_commit

    def _start_asr(self, final: bool = False) -> threading.Thread | None:
        start, end = max(self._asr_from, self._audio_start), self._audio_end
        if end - start <= 0:
            return None
        audio = self._audio[start - self._audio_start : end - self._audio_start].copy()
        # a pass from the microphone's first sample, or from audio already let go, starts wherever that was
        from_pause = self._asr_from_pause and self._asr_from >= self._audio_start
        if self.background and not final:
            th = threading.Thread(
                target=self._asr_run,
                args=(audio, start, end, final, self._generation, from_pause),
                # not a daemon: the interpreter waits for a running pass at exit (a native Whisper call
                # killed mid-way aborts the process)
                daemon=False,
                name="tailor-stream-asr",
            )
            self._asr_thread = th
            th.start()
            return th
        self._asr_run(audio, start, end, final, self._generation, from_pause)
        return None

    # ------------------------------------------------------------------ output
    def bundle(self, flush: bool = False, transcribe: bool = True, voice_wait: float | None = None) -> FeatureBundle:
        """Features of the last ``window_seconds``. ``flush=True`` (end of stream) waits for and finalises the
        transcript synchronously; otherwise speech-to-text results appear when the background pass
        finishes. ``transcribe=False``: start no speech-to-text pass here (see :meth:`transcribe_if_due`). The
        voice features' encoder pass runs without the lock: frames and audio chunks keep arriving meanwhile.

        ``voice_wait`` (seconds; a live view's bound): the voice encoder pass runs in a thread and the bundle
        waits for it at most this long. A pass that takes longer (a busy machine, or the Whisper model busy with
        a transcription) goes on, and the bundle has the voice of the steps encoded so far (the newest steps
        without voice); the next bundle takes its result. A quiet machine encodes within the bound, so the
        features are the same as without it. None: wait for the pass, however long."""
        th = self._asr_thread
        if flush and th is not None:
            th.join()
        with self._lock:
            if self._asr_error is not None:
                err, self._asr_error = self._asr_error, None
                raise FeatureError(f"live speech-to-text failed: {err}") from err
            if flush and self._resampler is not None:  # release the resampler's look-ahead samples
                tail = self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)
                self._resampler = None
                self._in_rate = None
                if len(tail):
                    self._append(tail.astype(np.float32, copy=False))
            if flush and self.transcribe and self._has_audio and self._audio_end > self._asr_from:
                self._start_asr(final=True)
            elif transcribe and voice_wait is None and self._asr_due():
                self._start_asr(final=False)
            end = self._end_time()
            if end <= 0:
                return FeatureBundle.empty(0)
            first = self._window_start_step(end)
            n = n_steps_for(end) - first
            shown = self._tentative_shown
            words = [*self._words, *self._tentative[:shown]]
            vecs = (
                np.stack([*self._vecs, *self._tentative_vecs[:shown]])
                if words
                else np.zeros((0, TEXT_DIM), np.float32)
            )
            faces = list(self._faces)
            generation = self._generation
            plan = self._voice_plan(first, n) if voice_wait is None or flush else None
        if voice_wait is None or flush:
            audio = self._voice(plan, generation)
        else:
            audio = self._voice_within(first, n, generation, voice_wait, transcribe)
        return assemble(
            n,
            first_step=first,
            audio=audio,
            faces=faces,
            words=words,
            word_vecs=vecs,
            duration=end - first * STEP_SECONDS,
            source="stream",
        )

    def close(self) -> None:
        """Close the face tracker and forget the stream (a stream garbage-collected unclosed has its tracker
        closed from another thread)."""
        self.reset()

    @property
    def transcript(self) -> str:
        """The last ``options.transcript_words`` committed words, then the tentative ones (each word once)."""
        with self._lock:
            return " ".join([*self._heard, *(w[0] for w in self._tentative[: self._tentative_shown])])

    @property
    def face_in_view(self) -> bool | None:
        """Whether the newest analysed frame shows a face (None: no frame analysed yet)."""
        with self._lock:
            return None if not self._faces else self._faces[-1][1] is not None

    @property
    def heard_seconds(self) -> float:
        """Seconds of audio received so far."""
        with self._lock:
            return (self._audio_end - self._audio_first) / SAMPLE_RATE if self._has_audio else 0.0

    @property
    def seconds(self) -> float:
        """Stream time covered so far."""
        with self._lock:
            return self._end_time()


#: the length of the stretch of audio at a pass's edge that tells whether it is cut inside sound
EDGE_SECONDS: float = 0.03


def _cut_in_sound(audio: np.ndarray, edge_db: float) -> tuple[bool, bool]:
    """Whether 16 kHz audio [n] starts and ends inside sound: its first and last ``EDGE_SECONDS`` are within
    ``edge_db`` of its loudest such stretch (a microphone's noise floor sits 40-60 dB under speech)."""
    n = int(EDGE_SECONDS * SAMPLE_RATE)
    if len(audio) < 2 * n:
        return False, False
    frames = audio[: len(audio) // n * n].reshape(-1, n).astype(np.float64)
    rms = np.sqrt(np.mean(frames ** 2, axis=1))
    if rms.max() <= 0:  # digital silence
        return False, False
    floor = rms.max() * 10 ** (edge_db / 20)
    tail = np.sqrt(np.mean(audio[-n:].astype(np.float64) ** 2))
    return bool(rms[0] > floor), bool(tail > floor)


def _forced(start: int, end: int, final: bool, options: LiveOptions) -> bool:
    """Whether a pass over samples [start, end) commits every word it heard: at the end of the stream, or when
    ``options.asr_max_pending_seconds`` of audio wait (its cut then falls wherever the audio ends)."""
    return final or end - start >= options.asr_max_pending_seconds * SAMPLE_RATE


def _agreed(words: list[tuple[str, float, float]], previous: list[str]) -> int:
    """How many of a pass's first words the previous pass, from the same sample, heard alike (*local agreement*)."""
    agreed = 0
    for w, p in zip(words, previous):
        if _norm_word(w[0]) != _norm_word(p):
            break
        agreed += 1
    return agreed


def _norm_word(word: str) -> str:
    return "".join(c for c in word.lower() if c.isalnum() or c == "'")


def _close_soon(holder: list) -> None:
    for tracker in holder:
        tracker.close_soon()
    holder.clear()


__all__ = ["StreamExtractor"]
