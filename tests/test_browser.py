"""The app as a visitor meets it: Debian's headless Chromium driven by Playwright.

The fake camera and microphone play a RAVDESS fixture clip (converted at test time to Y4M + WAV), so the Live
tab sees a real face and hears real speech. Screenshots and measurements go to ``tests/artifacts/``
(git-ignored). Needs ``apt-get install chromium`` (``/usr/bin/chromium``); never downloads a browser.

What is checked is what hurt visitors before (issue 13): every example shows a result; Live starts with one
click, updates often, and Stop really turns the camera off; an error leaves a readable message (not a toast that
disappears) and removes the bad file; on a phone the scores are within the first two screens; a clip's result
arrives quickly and in one piece.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from app_helpers import ARTIFACTS, HAPPY, ROOT, age_the_server, get_server, make_fake_media

CHROMIUM = Path(os.environ.get("TAILOR_CHROMIUM", "/usr/bin/chromium"))

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: apt-get install chromium")]
sync_api = pytest.importorskip("playwright.sync_api")

# Every track getUserMedia hands the page, recorded before any page script runs (to see whether the page ends them),
# and when the first camera track of a Start opened (performance.now(); the live test resets it before Start).
RECORD_TRACKS = """(() => { window.__testTracks = []; window.__testCameraAt = null; const md = navigator.mediaDevices;
  if (!md) return;
  const orig = md.getUserMedia.bind(md);
  md.getUserMedia = async (c) => { const s = await orig(c); window.__testTracks.push(...s.getTracks());
    if (window.__testCameraAt === null && s.getVideoTracks().length) window.__testCameraAt = performance.now();
    return s; };
})();"""
# The Live tab's timing as the page shows it, from the DOM itself (a MutationObserver: no polling delay): when
# Start was pressed, when the headline first said it is looking/listening, when the status first reflected the
# stream (what the camera and the microphone gave, or scores), when the first scores showed, and every time the
# status's update stamp ("t = 12.3 s") changed.
LIVE_CLOCK = """() => { const m = window.__liveClock = {start: performance.now(), looking: null, feedback: null,
    scores: null, stamps: []}; window.__testCameraAt = null;
  let last = null;
  const check = () => {
    const now = performance.now();
    const head = document.getElementById('live-headline-text');
    const status = (document.getElementById('live-status') || {}).textContent || '';
    if (m.looking === null && head && /looking|listening|starting/i.test(head.textContent)) m.looking = now;
    if (m.feedback === null && /face seen|no face|s heard|t = [0-9]/.test(status)) m.feedback = now;
    if (m.scores === null && document.getElementById('live-values')) m.scores = now;
    const stamp = /t = ([0-9.]+) s/.exec(status);
    if (stamp && stamp[1] !== last) { last = stamp[1]; m.stamps.push(now); }
  };
  if (window.__liveObserver) window.__liveObserver.disconnect();
  window.__liveObserver = new MutationObserver(check);
  window.__liveObserver.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""
# The Live tab's timing targets (issue 31): first feedback within 1.5 s of the camera opening, the update gap's
# 95th percentile within 1.5 s, no gap over 3 s. The largest gap as the page saw it is asserted always, and the p95
# as the server handed updates to the page (what the app controls). The p95 as the page drew them is recorded, not
# asserted: on a shared 2-core machine the browser, starved of CPU, draws some updates late, so that figure measures
# the machine as much as the app (docs/speed.md keeps it on a quiet and a busy machine). The first feedback, a single
# page-side time, is judged unless the machine is overloaded (1-minute load over LIVE_OVERLOAD per core; the test
# alone makes about 1.5). The updates are watched for LIVE_MEASURE_S, enough for a 95th percentile over at least
# LIVE_MIN_GAPS gaps.
LIVE_FIRST_FEEDBACK_S, LIVE_GAP_P95_S, LIVE_GAP_MAX_S = 1.5, 1.5, 3.0
# The p95 target assumes one live update costs at most LIVE_UPDATE_BUDGET_S, the product's target, which
# benchmarks/bench_features.py measures and judges. On a slower machine, where the server measured its updates
# costing more (median), the p95 target grows in proportion: this test judges how the app hands updates over, the
# benchmark judges what one costs.
LIVE_UPDATE_BUDGET_S = 0.5
# what the fake microphone's clip says, looped. The live transcript's other words are recorded, not asserted: through
# the browser's audio path Whisper tiny.en also mishears whole words ("talking or", "are on the door"), which no
# edge rule can tell from a cut word; tests/test_features.py asserts the cut words away deterministically
LIVE_CLIP_STATEMENT = "kids are talking by the door"
LIVE_OVERLOAD = 4.0
LIVE_MEASURE_S, LIVE_MIN_GAPS = 24, 21
TRACKS = "() => window.__testTracks.map(t => t.kind + ':' + t.readyState)"
# What the browser did to the microphone's sound: its processing switches, as the live audio track reports them.
MIC_PROCESSING = """() => window.__testTracks.filter(t => t.kind === 'audio').map(t => { const s = t.getSettings();
    return [s.echoCancellation, s.noiseSuppression, s.autoGainControl]; })"""
VIDEO_TRACKS = """() => Array.from(document.querySelectorAll('#live-cam video')).flatMap(v => v.srcObject ?
    v.srcObject.getTracks().map(t => t.kind + ':' + t.readyState) : [])"""
PHONE = {"width": 390, "height": 844}
FIXTURES = ROOT / "tests" / "fixtures"
BROKEN_NAME = "holiday.mp4"


@pytest.fixture(scope="module")
def fake_media(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("fake-media")
    y4m, wav = d / "camera.y4m", d / "mic.wav"
    make_fake_media(HAPPY, y4m, wav)
    return y4m, wav


@pytest.fixture(scope="module")
def browser(fake_media):
    y4m, wav = fake_media
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    args = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}", f"--use-file-for-fake-audio-capture={wav}",
    ]
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=args, headless=True)
        yield b
        b.close()


def _open(browser, viewport: dict | None = None, phone: bool = False):
    context = browser.new_context(viewport=viewport or {"width": 1400, "height": 1000}, is_mobile=phone,
                                  has_touch=phone, permissions=["camera", "microphone"], accept_downloads=True)
    context.add_init_script(RECORD_TRACKS)
    requested: list[str] = []
    context.on("request", lambda r: requested.append(r.url))
    pg = context.new_page()
    pg.requested = requested
    pg.set_default_timeout(60_000)
    pg.goto(get_server(), wait_until="load")
    pg.wait_for_selector("#live-cam")
    return context, pg


@pytest.fixture()
def page(browser):
    context, pg = _open(browser)
    yield pg
    context.close()


# ------------------------------------------------------------------------------------------------ helpers


def _start_live(page) -> None:
    """Start the Live view as a visitor would: one Start button (older pages: camera access, record, mic record)."""
    if page.locator("#live-start").count():
        page.locator("#live-start").click()
        return
    page.locator("#live-cam").get_by_text("Click to Access Webcam").click()
    page.locator("#live-cam button[aria-label='capture photo']").click()
    page.locator("#live-mic button.record-button").click()


def _stop_live(page) -> None:
    if page.locator("#live-stop").count():
        page.locator("#live-stop").click()
        return
    for sel in ("#live-cam button:has-text('Stop')", "#live-mic button:has-text('Stop')"):
        if page.locator(sel).count():
            page.locator(sel).first.click()


def _live_server_timing() -> dict:
    """The server's side of the newest live session (the app runs in this process): what each update cost and how
    far apart updates were computed and taken for showing."""
    import app

    sessions = [live for live in list(app._SESSIONS.values()) if getattr(live, "update_log", None)]
    if not sessions:
        return {}
    live = max(sessions, key=lambda s: s.update_log[-1][0])
    done = [t for t, _ in live.update_log]
    cost = sorted(c for _, c in live.update_log)
    spread = lambda xs: sorted(b - a for a, b in zip(xs, xs[1:]))  # noqa: E731
    pct = lambda xs, q: round(xs[min(len(xs) - 1, int(q * len(xs)))], 3) if xs else None  # noqa: E731
    computed, shown = spread(done), spread(list(live.shown_log))
    return {"updates": len(cost), "update_cost_s": {"p50": pct(cost, 0.5), "p95": pct(cost, 0.95), "max": pct(cost, 1)},
            "computed_gap_s": {"p50": pct(computed, 0.5), "p95": pct(computed, 0.95), "max": pct(computed, 1)},
            "shown_gap_s": {"p50": pct(shown, 0.5), "p95": pct(shown, 0.95), "max": pct(shown, 1)},
            "shown_gaps": len(shown), "frames": live.frames, "dropped_frames": live.dropped_frames,
            "audio_chunks": live.audio_chunks}


def _values(page) -> str:
    loc = page.locator("#live-values")
    return loc.inner_text() if loc.count() else ""


def _clip_tab(page) -> None:
    page.get_by_role("tab", name="Clip").click()
    page.wait_for_selector("#clip-video")


def _load_clip(page, path: Path) -> None:
    """Put ``path`` in the clip input, replacing whatever is there (as a visitor would: clear, then upload)."""
    clear = page.locator("#clip-video button[aria-label='Clear']")
    if clear.count():
        clear.first.click()
    if not page.locator("#clip-video input[type=file]").count():
        page.locator("#clip-video button[aria-label='Upload file']").first.click()
    page.locator("#clip-video input[type=file]").set_input_files(str(path))


def _summary(page) -> str:
    return page.inner_text("#clip-summary")


def _top(page, selector: str) -> float:
    return page.evaluate(f"() => document.querySelector('{selector}').getBoundingClientRect().top + window.scrollY")


def _repeated_words(text: str) -> list[str]:
    words = re.findall(r"[a-z']+", text.lower())
    return [a for a, b in zip(words, words[1:]) if a == b]


# ------------------------------------------------------------------------------------------------ Live


def test_live_start_updates_and_stop_ends_the_camera(page):
    """One click starts camera + microphone; first scores and updates come quickly and keep coming (the status
    never falls back to waiting); the transcript reads as the clip's words; Stop ends every camera/microphone
    track the page opened."""
    page.wait_for_timeout(1000)  # a visitor reads the page before pressing Start
    page.evaluate(LIVE_CLOCK)
    t0 = time.monotonic()
    _start_live(page)
    page.wait_for_selector("#live-values", timeout=30_000)
    first = time.monotonic() - t0
    seen_status, seen_values, changes, fallbacks = set(), set(), [], 0
    last = None
    deadline = time.monotonic() + LIVE_MEASURE_S
    while time.monotonic() < deadline:
        status = page.inner_text("#live-status")
        if "Waiting" in status:
            fallbacks += 1
        stamp = re.search(r"t = ([\d.]+) s", status)
        if stamp and stamp.group(1) != last:
            last = stamp.group(1)
            changes.append(time.monotonic())
        seen_status.add(status)
        seen_values.add(_values(page))
        page.wait_for_timeout(100)
    clock = page.evaluate("() => ({...window.__liveClock, camera: window.__testCameraAt})")
    page.evaluate("() => window.__liveObserver.disconnect()")
    server = _live_server_timing()
    # the update gaps as the page saw them (the DOM's own clock); the 100 ms polling above only as a fallback
    stamps = [t / 1000 for t in clock["stamps"]] or changes
    gaps = sorted(b - a for a, b in zip(stamps, stamps[1:]))
    p95 = gaps[min(len(gaps) - 1, int(0.95 * len(gaps)))] if gaps else float("inf")
    since = {k: (round((clock[k] - clock["start"]) / 1000, 2) if clock[k] is not None else None)
             for k in ("camera", "looking", "feedback", "scores")}
    feedback = (round((clock["feedback"] - clock["camera"]) / 1000, 2)
                if clock["feedback"] is not None and clock["camera"] is not None else None)
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline and "door" not in page.input_value("#live-transcript textarea").lower():
        page.wait_for_timeout(500)
    transcript = page.input_value("#live-transcript textarea")
    page.screenshot(path=str(ARTIFACTS / "live.png"), full_page=True)
    values = _values(page)
    load = os.getloadavg()
    overloaded = load[0] > LIVE_OVERLOAD * (os.cpu_count() or 1)
    cost = (server.get("update_cost_s") or {}).get("p50") or 0.0
    gap_p95_target = LIVE_GAP_P95_S * max(1.0, cost / LIVE_UPDATE_BUDGET_S)
    (ARTIFACTS / "live_metrics.json").write_text(json.dumps(
        {"first_scores_s": round(first, 2), "since_start_s": since, "first_feedback_after_camera_s": feedback,
         "update_gaps_s": [round(g, 2) for g in gaps], "update_p95_s": round(p95, 2),
         "update_max_s": round(gaps[-1], 2) if gaps else None, "updates": len(stamps),
         "targets": {"first_feedback_after_camera_s": LIVE_FIRST_FEEDBACK_S, "update_p95_s": round(gap_p95_target, 2),
                     "update_max_s": LIVE_GAP_MAX_S, "p95_asserted_on": "server.shown_gap_s",
                     "feedback_asserted": not overloaded},
         "server": server, "load_average": load, "cpus": os.cpu_count(),
         "status_fallbacks": fallbacks, "transcript": transcript,
         "transcript_other_words": sorted(set(re.findall(r"[a-z']+", transcript.lower()))
                                          - set(LIVE_CLIP_STATEMENT.split())),
         "last_scores": values}, indent=1))

    assert all(k in values for k in ("happy", "sad", "anger", "surprise", "disgust", "fear")), values
    # the voice reaches the model as recorded, as in training: no echo cancelling, noise gating or gain levelling
    processing = page.evaluate(MIC_PROCESSING)
    assert processing and all(p == [False, False, False] for p in processing), processing
    nums = [float(x) for x in re.findall(r"\d\.\d\d", values)]
    assert len(nums) == 6 and all(0.0 <= v <= 1.0 for v in nums)
    assert any("face seen" in s for s in seen_status), seen_status
    assert any("each encoder alone: face:" in s for s in seen_status), seen_status  # the window's readouts
    assert "camera 640×480" in " ".join(seen_status), "the webcam_options constraints should give 640x480"
    assert any(t.startswith("video:") for t in page.evaluate(TRACKS)), "the camera was never opened"
    _stop_live(page)
    page.wait_for_timeout(1500)
    tracks = page.evaluate(TRACKS) + page.evaluate(VIDEO_TRACKS)
    # every fault a visitor would meet, reported together
    problems = []
    if not (tracks and all(t.endswith(":ended") for t in tracks)):
        problems.append(f"after Stop the camera/microphone are still on: {tracks}")
    if len(seen_values - {""}) < 2:
        problems.append(f"the displayed scores should change as the clip plays: {seen_values}")
    if first > 6.0:
        problems.append(f"first scores after {first:.1f} s")
    if since["looking"] is None or since["looking"] > 1.0:
        problems.append(f"the page said it is starting/looking only {since['looking']} s after Start (target 1 s)")
    if feedback is None or (feedback > LIVE_FIRST_FEEDBACK_S and not overloaded):
        problems.append(f"first feedback {feedback} s after the camera opened (target {LIVE_FIRST_FEEDBACK_S} s)")
    # updates keep coming (at least one every 2.4 s on average) with no gap over 3 s on the page, and the server hands
    # them over on time (p95 over enough gaps to be one)
    shown = server.get("shown_gap_s") or {}
    if (len(gaps) < LIVE_MEASURE_S / 2.4 or gaps[-1] > LIVE_GAP_MAX_S or server.get("shown_gaps", 0) < LIVE_MIN_GAPS
            or shown.get("p95") is None or shown["p95"] > gap_p95_target):
        problems.append(f"updates: {len(stamps)} in {LIVE_MEASURE_S} s on the page (gaps {[round(g, 2) for g in gaps]},"
                        f" p95 {p95:.2f} s); server: {server} (p95 target {gap_p95_target:.2f} s); load {load}")
    if fallbacks:
        problems.append("the status fell back to 'Waiting…' in the middle of the stream")
    if "door" not in transcript.lower() or _repeated_words(transcript):
        problems.append(f"the transcript does not read as the clip's words: {transcript!r}")
    assert not problems, "\n".join(problems)

    # Start again (the camera comes back, scores flow), then leave the tab: the camera goes off again
    _start_live(page)
    page.wait_for_function("() => /t = ([0-9.]+) s/.test(document.querySelector('#live-status').innerText)",
                           timeout=20_000)
    page.wait_for_timeout(2500)
    assert "face seen" in page.inner_text("#live-status"), page.inner_text("#live-status")
    assert any(t == "video:live" for t in page.evaluate(TRACKS)), "Start after Stop did not reopen the camera"
    _clip_tab(page)
    page.wait_for_timeout(1000)
    tracks = page.evaluate(TRACKS) + page.evaluate(VIDEO_TRACKS)
    assert all(t.endswith(":ended") for t in tracks), f"after leaving the Live tab the camera is on: {tracks}"


# ------------------------------------------------------------------------------------------------ Clip


def _wait_for_new_result(page, previous: str, timeout: float = 30_000) -> str:
    page.wait_for_function(  # a new result, not the old one under Gradio's progress text
        "(prev) => { const t = document.querySelector('#clip-summary').innerText;"
        " return t !== prev && !/processing|queue|Analysing|^\\s*[0-9.]+s$/m.test(t)"
        " && (t.includes('Predicted') || t.includes('Could not') || t.includes('rror')); }",
        arg=previous, timeout=timeout)
    page.wait_for_timeout(500)
    return _summary(page)


def test_every_example_shows_a_result(browser):
    """Every example, on fresh pages of a server that has been up for hours, shows a result (its media loads:
    no 403, no "file not found"), and its button says what it is and what the model reads, which is what the
    page then shows. Every fault is collected, then reported together."""
    import app

    age_the_server()
    problems: list[str] = []
    for visit in (1, 2):  # the second page gets the cached results
        context, page = _open(browser)
        failed: list[str] = []
        page.on("response", lambda r, failed=failed: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        try:
            _clip_tab(page)
            examples = page.locator("#clip-examples .gallery-item, table[role=grid] tr.tr-body")
            n = examples.count()
            assert n == len(app.EXAMPLES), f"{n} examples shown, {len(app.EXAMPLES)} defined"
            previous = ""
            for i in range(n):
                button = examples.nth(i).inner_text().strip()
                reads = re.search(r"“([^”]+)”", button)
                want = reads.group(1) if reads else ""
                examples.nth(i).click()
                try:  # this example's answer (the promised headline, or any new one), no progress text over it
                    page.wait_for_function(
                        "([want, prev]) => { const h = document.querySelector('#clip-summary .headline');"
                        " const t = document.querySelector('#clip-summary').innerText;"
                        " if (/processing|queue|Analysing|^\\s*[0-9.]+s$/m.test(t)) return false;"
                        " if (/rror|Could not/.test(t)) return true;"
                        " const head = h ? h.innerText.trim().toLowerCase() : '';"
                        " return want ? (head === want || head.startsWith(want + ',')) : (head && t !== prev); }",
                        arg=[want, previous], timeout=30_000)
                except sync_api.TimeoutError:
                    page.screenshot(path=str(ARTIFACTS / f"example_{i}.png"), full_page=True)
                result = page.inner_text("#clip-result")
                previous = _summary(page)
                if "Predicted" not in previous or "Error" in result or "Could not" in previous:
                    problems.append(f"visit {visit}, example {i} ({button}) shows no result: {previous[:200]!r}")
                    continue
                if not reads:
                    problems.append(f"example {i}: the button does not say what the model reads: {button!r}")
                    continue
                headline = page.inner_text("#clip-summary .headline").strip().lower()
                if headline != want and not headline.startswith(want + ","):  # test_app: a CPU may add a label
                    problems.append(f"visit {visit}, example {i} ({button}) reads {headline!r}")
            page.wait_for_timeout(1000)
            if failed:
                problems.append(f"visit {visit}: requests failed: {failed}")
        finally:
            context.close()
    assert not problems, "\n".join(problems)


def _load_file(page, elem: str, path: Path) -> None:
    """Put ``path`` in the file input ``elem`` (#clip-video, #clip-image, ...), replacing what is there."""
    clear = page.locator(f"{elem} button[aria-label='Clear']")
    if clear.count():
        clear.first.click()
    if not page.locator(f"{elem} input[type=file]").count():
        page.locator(f"{elem} button[aria-label='Upload file']").first.click()
    page.locator(f"{elem} input[type=file]").set_input_files(str(path))


def _press_analyse(page) -> str:
    """Press Analyse; returns the summary once this analysis has answered (the old result goes at once)."""
    page.locator("#clip-run").click()
    page.wait_for_function("!document.querySelector('#clip-summary').innerText.includes('Predicted')"
                           " || document.querySelector('#clip-summary').innerText.includes('Analysing')",
                           timeout=20_000)
    return _wait_for_new_result(page, "", timeout=60_000)


def test_a_file_on_the_page_can_be_analysed_again(page):
    """A photo on the page, then a sentence typed beside it (Enter), then Analyse again; a clip, then Analyse
    again: every analysis of a file still on screen gives a result (before, the first result deleted the file:
    the next gave a bare "Error" and FileNotFoundError, or "file not found")."""
    _clip_tab(page)
    previous = _summary(page)
    _load_file(page, "#clip-image", FIXTURES / "single_face.jpg")  # not an example's bytes: a visitor's own
    text = _wait_for_new_result(page, previous)
    assert "Predicted" in text, text
    age_the_server()  # the photo is on the page: no sweep may take it
    page.locator("#clip-text textarea, #clip-text input").first.fill("what a lovely day")
    page.locator("#clip-text textarea, #clip-text input").first.press("Enter")
    text = _wait_for_new_result(page, text)
    assert "Predicted" in text and "face" in text and "words" in text, text
    text = _press_analyse(page)
    assert "Predicted" in text, text
    pills = page.locator("#clip-result .error:visible")
    assert not pills.count(), "an error pill is shown"
    page.locator("#clip-text textarea, #clip-text input").first.fill("")
    previous = _summary(page)
    _load_file(page, "#clip-video", FIXTURES / "ravdess_happy_kids.mp4")
    text = _wait_for_new_result(page, previous, timeout=60_000)
    assert "Predicted" in text, text
    text = _press_analyse(page)
    assert "Predicted" in text and "file not found" not in text, text


def test_upload_shows_the_whole_result_quickly(page):
    """A 3 s clip: the analysis starts on upload, the old result goes at once, the new one comes in one piece;
    the timeline seeks the video; CSV and JSON download from the page."""
    _clip_tab(page)
    charts = ("#clip-scores", "#clip-timeline", "#clip-modality", "#clip-heatmap")
    t0 = time.monotonic()
    _load_clip(page, HAPPY)
    page.wait_for_selector("#clip-video video")
    if page.locator("#clip-run").count() and "Analysing" not in _summary(page):
        page.wait_for_timeout(300)
        if "Analysing" not in _summary(page) and not page.locator("#clip-summary .tailor-busy").count():
            page.locator("#clip-run").click()  # pages where uploading does not start the analysis
    page.wait_for_function("document.querySelector('#clip-summary').innerText.includes('Predicted')",
                           timeout=90_000)
    appeared = {}
    for elem in charts:
        page.wait_for_selector(f"{elem} .js-plotly-plot", timeout=30_000)
        appeared[elem] = time.monotonic() - t0
    total = max(appeared.values())
    (ARTIFACTS / "clip_metrics.json").write_text(json.dumps({"time_to_result_s": round(total, 2),
                                                             "charts_s": appeared}, indent=1))
    assert "door" in page.input_value("#clip-transcript textarea").lower()
    assert "Each encoder alone: face: happy" in _summary(page)  # the readouts are on the page
    assert "threshold" in page.locator("#clip-scores").inner_text() or "≥" in page.locator("#clip-scores").inner_text()
    assert total <= 8.0, f"the result took {total:.1f} s"
    assert max(appeared.values()) - min(appeared.values()) <= 1.0, f"charts appeared one by one: {appeared}"
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "clip.png"), full_page=True)
    # a click on the timeline seeks the clip
    box = page.locator("#clip-timeline .nsewdrag").first.bounding_box()
    page.mouse.click(box["x"] + 0.75 * box["width"], box["y"] + 0.5 * box["height"])
    page.wait_for_timeout(300)
    assert page.evaluate("document.querySelector('#clip-video video').currentTime") > 1.0
    # CSV from the result on the page (built in the browser: no file on the server)
    with page.expect_download() as info:
        page.locator("#clip-csv").click()
    text = Path(info.value.path()).read_text()
    assert text.startswith("scope,start_s,end_s,happy,sad,anger,surprise,disgust,fear"), text[:200]
    assert "\nwindow," in text


def test_an_error_stays_readable_and_the_bad_file_goes(page, tmp_path):
    bad = tmp_path / BROKEN_NAME
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 80)
    _clip_tab(page)
    _load_clip(page, bad)
    try:  # uploading starts the analysis (on a busy machine it can take a few seconds)
        page.wait_for_function(f"document.body.innerText.includes('{BROKEN_NAME}')", timeout=20_000)
    except sync_api.TimeoutError:
        page.locator("#clip-run").click()  # pages where uploading does not start the analysis
    page.wait_for_timeout(15_000)
    page.screenshot(path=str(ARTIFACTS / "error.png"), full_page=True)
    body = page.inner_text("body")
    assert BROKEN_NAME in body and ("not a supported" in body or "corrupt" in body), \
        "15 s after a failed analysis the page should still say what went wrong"
    assert not page.locator("#clip-video video").count(), "the file that failed should no longer be loaded"
    pills = page.locator(".error:visible, [data-testid='status-tracker'] .error:visible")
    assert pills.count() <= 1, f"{pills.count()} panels show an error pill"


# ------------------------------------------------------------------------------------------------ phone, About


def test_phone_scores_within_two_screens(browser):
    context, pg = _open(browser, PHONE, phone=True)
    try:
        pg.wait_for_timeout(500)
        limit = 2 * PHONE["height"]
        live = _top(pg, "#live-scores")
        _clip_tab(pg)
        pg.wait_for_timeout(500)
        clip = _top(pg, "#clip-scores")
        pg.screenshot(path=str(ARTIFACTS / "phone_clip.png"), full_page=True)
        assert live < limit, f"Live scores start {live:.0f} px down (two screens: {limit} px)"
        assert clip < limit, f"Clip scores start {clip:.0f} px down (two screens: {limit} px)"
    finally:
        context.close()


def test_about_reads_for_a_visitor(page):
    for attempt in range(3):  # a click that lands while the page is still wiring its tabs is lost: click again
        page.get_by_role("tab", name="About").click()
        try:
            page.wait_for_function("document.body.innerText.includes('How well')", timeout=20_000)
            break  # the About text is drawn
        except Exception:
            if attempt == 2:
                raise
    text = page.locator("#ethics").inner_text()
    assert "unreliable" in text and "make decisions about people" in text
    body = page.inner_text("body")
    assert "license: cc-by" not in body, "the model card's YAML front matter is shown"
    assert "OMP_NUM_THREADS" not in body and "shared/data" not in body, "build instructions are shown"
    assert body.count("make decisions about people") <= 2, "the ethics warning is repeated"
    about = page.inner_text("#about")
    assert len(about) < 4000 and "What it can't do" in about and "Licences" in about, len(about)
    assert page.locator("#model-card").count() == 1, "the full model card is one click away"
    outside = [u for u in page.requested if not u.startswith(("http://127.0.0.1", "data:", "blob:"))]
    assert not outside, f"the page loaded resources from elsewhere: {outside[:5]}"
    page.screenshot(path=str(ARTIFACTS / "about.png"), full_page=True)
