"""A visitor's tour of the demo in headless Chromium (fake camera + microphone playing a clip): screenshots
for docs/ui/ at desktop (1400x1000) and phone (390x844) width.

    python scripts/ui_tour.py --tag after [--items 1,2,3] [--out docs/ui]

Each item of issue 13 gets ``NN-name-<tag>.png`` (desktop) and ``NN-name-<tag>-phone.png``. A small banner is
drawn on top of the page where a shot needs a fact that a picture cannot show (e.g. the camera track's state).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from app_helpers import ARTIFACTS, HAPPY, SAD, age_the_server, get_server, make_fake_media  # noqa: E402

CLIP = ROOT / "tests" / "fixtures" / "ravdess_fearful_kids.mp4"  # never used by the demo itself
SIZES = {"": (1400, 1000), "-phone": (390, 844)}

TRACKS_JS = """() => Array.from(document.querySelectorAll('video')).flatMap(v => v.srcObject ?
    v.srcObject.getTracks().map(t => t.kind + ':' + t.readyState) : [])"""
ALL_TRACKS_JS = "() => (window.__tailorTracks || []).map(t => t.kind + ':' + t.readyState)"
# Record every track getUserMedia hands out (to see whether the page ends them), before any page script runs.
INIT_JS = """(() => { window.__tailorTracks = []; const md = navigator.mediaDevices;
  const orig = md.getUserMedia.bind(md);
  md.getUserMedia = async (c) => { const s = await orig(c); window.__tailorTracks.push(...s.getTracks()); return s; };
})();"""


BANNER_CSS = ("position:fixed;bottom:0;left:0;right:0;z-index:99999;background:#222;color:#ff0;"
              "font:14px monospace;padding:6px;white-space:pre-wrap")


def banner(page, text: str) -> None:
    page.evaluate("""([t, css]) => { let b = document.getElementById('tour-banner');
      if (!b) { b = document.createElement('div'); b.id = 'tour-banner'; b.style.cssText = css;
        document.body.appendChild(b); }
      b.textContent = t; }""", [text, BANNER_CSS])


def clear_banner(page) -> None:
    page.evaluate("() => document.getElementById('tour-banner')?.remove()")


def has_new_ui(page) -> bool:
    return page.locator("#live-start").count() > 0


def start_live(page) -> None:
    page.get_by_role("tab", name="Live").click()
    if has_new_ui(page):
        page.locator("#live-start").click()
    else:
        page.locator("#live-cam").get_by_text("Click to Access Webcam").click()
        page.locator("#live-cam button[aria-label='capture photo']").click()
        page.locator("#live-mic button.record-button").click()


def stop_live(page) -> None:
    if has_new_ui(page):
        page.locator("#live-stop").click()
    else:
        for sel in ("#live-cam button:has-text('Stop')", "#live-mic button:has-text('Stop')"):
            if page.locator(sel).count():
                page.locator(sel).first.click()


def clip_tab(page) -> None:
    page.get_by_role("tab", name="Clip").click()
    page.wait_for_timeout(300)


def upload_again(page, path: Path) -> None:
    """Replace the loaded clip by another file, as a visitor would (clear, then upload)."""
    clear = page.locator("#clip-video button[aria-label='Clear'], #clip-video button[title='Clear']")
    if clear.count():
        clear.first.click()
        page.wait_for_timeout(500)
    inp = page.locator("#clip-video input[type=file]")
    if not inp.count():
        page.locator("#clip-video button[aria-label='Upload file']").first.click()
    inp.set_input_files(str(path))


def shot(page, out: Path, name: str, full: bool = False) -> None:
    page.screenshot(path=str(out / name), full_page=full)
    print("wrote", out / name, flush=True)


class Tour:
    """One viewport size: a fresh page per item (so one item's state never leaks into the next)."""

    def __init__(self, browser, url: str, tag: str, suffix: str, size: tuple[int, int], out: Path, bad: Path):
        self.browser, self.url, self.tag, self.suffix, self.size, self.out, self.bad = (
            browser, url, tag, suffix, size, out, bad)
        self.phone = bool(suffix)

    def page(self):
        w, h = self.size
        ctx = self.browser.new_context(viewport={"width": w, "height": h}, permissions=["camera", "microphone"],
                                       device_scale_factor=2 if self.phone else 1, is_mobile=self.phone,
                                       has_touch=self.phone)
        ctx.add_init_script(INIT_JS)
        pg = ctx.new_page()
        pg.set_default_timeout(60_000)
        pg.goto(self.url, wait_until="load")
        pg.wait_for_selector("#live-cam")
        pg.wait_for_timeout(800)
        return ctx, pg

    def name(self, n: int, what: str) -> str:
        return f"{n:02d}-{what}-{self.tag}{self.suffix}.png"

    def analysed(self, pg, path: Path) -> None:
        clip_tab(pg)
        upload_again(pg, path)
        pg.wait_for_selector("#clip-video video")
        if not has_new_ui(pg):
            pg.locator("#clip-run").click()
        pg.wait_for_selector("#clip-heatmap .js-plotly-plot", timeout=90_000)
        pg.wait_for_timeout(1500)

    def item(self, item: int) -> None:
        ctx, pg = self.page()
        try:
            getattr(self, f"item{item}")(pg)
        finally:
            ctx.close()

    def item8(self, pg) -> None:  # the first screen
        shot(pg, self.out, self.name(8, "first-screen"))
        clip_tab(pg)
        shot(pg, self.out, self.name(8, "clip-tab"))

    def item1(self, pg) -> None:  # click an example
        clip_tab(pg)
        ex = pg.locator("#clip-examples .gallery-item, table[role=grid] tr.tr-body")
        n = ex.count()
        if n:
            ex.nth(min(4, n - 1)).click()
            pg.wait_for_timeout(5000)
        shot(pg, self.out, self.name(1, "examples"), full=True)

    def item2(self, pg) -> None:  # live: start, stream, stop
        t0 = time.time()
        start_live(pg)
        pg.wait_for_timeout(9000)
        shot(pg, self.out, self.name(10, "live-running"))
        pg.wait_for_timeout(5000)
        tr = pg.input_value("#live-transcript textarea")
        banner(pg, f"transcript after {time.time() - t0:.0f} s of 'Kids are talking by the door' (looped): {tr!r}")
        shot(pg, self.out, self.name(3, "transcript"))
        clear_banner(pg)
        stop_live(pg)
        pg.wait_for_timeout(1500)
        banner(pg, f"after Stop: camera/microphone tracks = {pg.evaluate(ALL_TRACKS_JS)}")
        shot(pg, self.out, self.name(2, "live-after-stop"))

    def item4(self, pg) -> None:  # new upload after a result
        self.analysed(pg, HAPPY)
        upload_again(pg, SAD)
        pg.wait_for_timeout(1200)
        shot(pg, self.out, self.name(4, "new-upload"), full=not self.phone)

    def item5(self, pg) -> None:  # result: plots and attention
        self.analysed(pg, CLIP)
        shot(pg, self.out, self.name(7, "plots"), full=True)
        pg.locator("#clip-heatmap").scroll_into_view_if_needed()
        pg.wait_for_timeout(500)
        shot(pg, self.out, self.name(5, "attention"))

    def item6(self, pg) -> None:  # a broken file
        self.analysed(pg, HAPPY)
        upload_again(pg, self.bad)
        pg.wait_for_timeout(500)
        if not has_new_ui(pg):  # older pages: uploading does not start the analysis
            pg.locator("#clip-run").click()
        pg.wait_for_timeout(2000)
        shot(pg, self.out, self.name(6, "error-2s"), full=not self.phone)
        pg.wait_for_timeout(14_000)
        banner(pg, "16 s after analysing a broken file")
        shot(pg, self.out, self.name(6, "error"), full=not self.phone)

    def item9(self, pg) -> None:
        pg.get_by_role("tab", name="About").click()
        pg.wait_for_timeout(800)
        shot(pg, self.out, self.name(9, "about"), full=True)

    # ---- second look (issue 31): what a new visitor and a hostile client tripped over
    def example(self, pg, i: int, wait_ms: int = 8000) -> None:
        clip_tab(pg)
        ex = pg.locator("#clip-examples .gallery-item, table[role=grid] tr.tr-body")
        ex.nth(i).scroll_into_view_if_needed()
        ex.nth(i).click()
        pg.wait_for_timeout(wait_ms)

    def item11(self, pg) -> None:  # the examples say what they are and what the model reads
        self.example(pg, 1)
        shot(pg, self.out, self.name(11, "example-readings"), full=True)

    def item12(self, pg) -> None:  # the audio example on a server that has been up for hours
        age_the_server()
        self.example(pg, 2)
        banner(pg, "server aged: every time-based sweep ran as if hours had passed; then a fresh page")
        shot(pg, self.out, self.name(12, "fearful-example-aged"), full=True)

    def item13(self, pg) -> None:  # a photo, then a sentence typed beside it (Enter)
        clip_tab(pg)
        from PIL import Image

        photo = self.bad.parent / "my_photo.jpg"  # a visitor's own photo (not an example's bytes)
        Image.open(ROOT / "tests" / "fixtures" / "single_face.jpg").convert("RGB").save(photo, quality=85)
        pg.locator("#clip-image input[type=file]").set_input_files(str(photo))
        pg.wait_for_timeout(6000)
        box = pg.locator("#clip-text textarea, #clip-text input").first
        box.fill("what a lovely day")
        box.press("Enter")
        pg.wait_for_timeout(6000)
        banner(pg, "a photo, its result, then 'what a lovely day' typed beside it and Enter")
        shot(pg, self.out, self.name(13, "photo-then-text"), full=True)

    def item14(self, pg) -> None:  # a zip named .jpg as the photo
        clip_tab(pg)
        pg.locator("#clip-image input[type=file]").set_input_files(str(self.zip_jpg()))
        pg.wait_for_timeout(6000)
        banner(pg, "a zip file named holiday.jpg uploaded as the photo")
        shot(pg, self.out, self.name(14, "zip-as-photo"), full=not self.phone)

    def item15(self, pg) -> None:  # About: one screen, not the model card
        pg.get_by_role("tab", name="About").click()
        pg.wait_for_timeout(1000)
        chars = len(pg.inner_text("body"))
        banner(pg, f"About tab: {chars:,} characters on the page")
        shot(pg, self.out, self.name(15, "about-one-screen"), full=True)

    def zip_jpg(self) -> Path:
        import zipfile

        path = self.bad.parent / "holiday.jpg"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("notes.txt", "not a photo\n" * 100)
        return path


def run(tag: str, items: list[int], out: Path, sizes: str = "desktop,phone") -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    media = ARTIFACTS / "tour-media"
    media.mkdir(parents=True, exist_ok=True)
    y4m, wav = media / "camera.y4m", media / "mic.wav"
    if not y4m.exists():
        make_fake_media(CLIP, y4m, wav)
    bad = media / "holiday.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 80)
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={y4m}", f"--use-file-for-fake-audio-capture={wav}"]
    url = get_server()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args, headless=True)
        for suffix, size in SIZES.items():
            if ("phone" if suffix else "desktop") not in sizes:
                continue
            tour = Tour(browser, url, tag, suffix, size, out, bad)
            for item in items:
                try:
                    tour.item(item)
                except Exception as e:  # noqa: BLE001 - a tour goes on; the log says what failed
                    print(f"item {item}{suffix} failed: {e}", flush=True)
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tag", default="after")
    ap.add_argument("--items", default="8,1,2,4,5,6,9", help="2 also shoots 3 and 10; 5 also 7")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "ui")
    ap.add_argument("--sizes", default="desktop,phone")
    a = ap.parse_args()
    run(a.tag, [int(x) for x in a.items.split(",")], a.out, a.sizes)


if __name__ == "__main__":
    main()
