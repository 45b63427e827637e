"""The app in a real browser: Debian's headless Chromium driven by Playwright.

The fake camera and microphone play a RAVDESS fixture clip (converted at test time to Y4M + WAV), so the Live
tab sees a real face and hears real speech. Screenshots go to ``tests/artifacts/`` (git-ignored).
Needs ``apt-get install chromium`` (``/usr/bin/chromium``); never downloads a browser.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from app_helpers import ARTIFACTS, HAPPY, get_server, make_fake_media

CHROMIUM = Path(os.environ.get("TAILOR_CHROMIUM", "/usr/bin/chromium"))

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: apt-get install chromium")]
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def fake_media(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("fake-media")
    y4m, wav = d / "camera.y4m", d / "mic.wav"
    make_fake_media(HAPPY, y4m, wav)
    return y4m, wav


@pytest.fixture(scope="module")
def page(fake_media):
    y4m, wav = fake_media
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    args = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}", f"--use-file-for-fake-audio-capture={wav}",
    ]
    url = get_server()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=args, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 1000},
                                      permissions=["camera", "microphone"])
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        pg.goto(url, wait_until="load")
        pg.wait_for_selector("#live-cam")
        yield pg
        context.close()
        browser.close()


def _values(page) -> str:
    loc = page.locator("#live-values")
    return loc.inner_text() if loc.count() else ""


def test_live_scores_update(page):
    page.locator("#live-cam").get_by_text("Click to Access Webcam").click()
    page.locator("#live-cam button[aria-label='capture photo']").click()  # starts streaming
    page.locator("#live-mic button.record-button").click()
    page.wait_for_selector("#live-values", timeout=60_000)
    seen_status, seen_values = set(), set()
    deadline = time.time() + 40
    while time.time() < deadline and (len(seen_status) < 4 or "face seen" not in " ".join(seen_status)):
        status = page.inner_text("#live-status")
        seen_status.add(status)
        seen_values.add(_values(page))
        page.wait_for_timeout(700)
    page.wait_for_selector("#live-scores .js-plotly-plot")
    page.screenshot(path=str(ARTIFACTS / "live.png"), full_page=True)
    values = _values(page)
    assert all(k in values for k in ("happy", "sad", "anger", "surprise", "disgust", "fear")), values
    nums = [float(x) for x in re.findall(r"\d\.\d\d", values)]
    assert len(nums) == 6 and all(0.0 <= v <= 1.0 for v in nums)
    assert len(seen_status) >= 4, f"the live status should update several times, saw {seen_status}"
    assert any("face seen" in s for s in seen_status), seen_status
    assert "camera 640×480" in " ".join(seen_status), "the webcam_options constraints should give 640x480"
    # the running transcript hears the fixture's sentence (speech-to-text runs in the background)
    deadline = time.time() + 30
    while time.time() < deadline and "door" not in page.input_value("#live-transcript textarea").lower():
        page.wait_for_timeout(1000)
    assert "door" in page.input_value("#live-transcript textarea").lower()
    (ARTIFACTS / "live_values.txt").write_text("\n".join(sorted(seen_values)))
    assert len(seen_values - {""}) >= 2, f"the displayed scores should change as the clip plays: {seen_values}"
    page.locator("#live-cam button:has-text('Stop')").first.click()
    page.locator("#live-mic button:has-text('Stop')").first.click()


def test_upload_shows_charts(page):
    page.get_by_role("tab", name="Clip").click()
    page.locator("#clip-video input[type=file]").set_input_files(str(HAPPY))
    page.wait_for_selector("#clip-video video")
    page.locator("#clip-run").click()
    for elem in ("#clip-scores", "#clip-timeline", "#clip-modality", "#clip-heatmap"):
        page.wait_for_selector(f"{elem} .js-plotly-plot", timeout=90_000)
    page.wait_for_function("document.querySelector('#clip-summary').innerText.includes('Predicted')")
    assert "door" in page.input_value("#clip-transcript textarea").lower()
    assert page.locator("#clip-json a, #clip-json button").count() >= 1
    assert "threshold" in page.locator("#clip-scores").inner_text()
    page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / "clip.png"), full_page=True)


def test_about_has_ethics_note(page):
    page.get_by_role("tab", name="About").click()
    text = page.locator("#ethics").inner_text()
    assert "unreliable" in text and "make decisions about people" in text
    page.screenshot(path=str(ARTIFACTS / "about.png"), full_page=True)
