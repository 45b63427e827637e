// TAILOR demo, browser side (inlined into the page by app.py: offline, no external script).
(() => {
  const tracks = new Set();
  const md = navigator.mediaDevices;
  if (md && md.getUserMedia && !md.__tailor) {
    const orig = md.getUserMedia.bind(md);
    md.getUserMedia = async (constraints) => {
      // The model was trained on unprocessed recordings: ask the browser not to clean, level or gate the voice
      // (its defaults turn on echo cancellation, noise suppression and automatic gain; loudness carries emotion).
      if (constraints && constraints.audio) {
        const asked = typeof constraints.audio === 'object' ? constraints.audio : {};
        constraints = {...constraints, audio: {echoCancellation: false, noiseSuppression: false,
                                               autoGainControl: false, ...asked}};
      }
      const stream = await orig(constraints);
      stream.getTracks().forEach((t) => tracks.add(t));
      return stream;
    };
    md.__tailor = true;
  }
  const q = (sel) => document.querySelector(sel);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const byText = (root, re) => root ? [...root.querySelectorAll('button')].find((b) => re.test(b.innerText)) : null;
  async function waitFor(fn, ms = 8000) {
    const t0 = Date.now();
    for (;;) { const v = fn(); if (v) return v; if (Date.now() - t0 > ms) return null; await sleep(50); }
  }
  let running = false;
  function showButtons() {
    q('#live-start')?.classList.toggle('hidden-btn', running);
    q('#live-stop')?.classList.toggle('hidden-btn', !running);
  }
  async function start() {
    if (running) return;
    running = true; showButtons();
    // at once, before the server answers: the page is starting the camera and the microphone
    const head = q('#live-headline-text');
    if (head) { head.className = 'headline muted'; head.textContent = 'Starting the camera and the microphone…'; }
    // the microphone first, without waiting for the camera: its first chunk takes longer to arrive than a frame
    const mic = await waitFor(() => q('#live-mic button.record-button'));
    if (mic && running) mic.click();
    const cam = q('#live-cam');
    const access = byText(cam, /access webcam/i);
    if (access) access.click();
    const video = await waitFor(() => q('#live-cam video'));
    if (video && (!video.srcObject || video.srcObject.getVideoTracks().every((t) => t.readyState === 'ended'))) {
      video.srcObject = await md.getUserMedia({video: {width: {ideal: 640}, height: {ideal: 480}}});
      try { await video.play(); } catch (e) { /* autoplay: the frames are still drawn */ }
    }
    const rec = await waitFor(() => q("#live-cam button[aria-label='capture photo']") || byText(q('#live-cam'), /^\s*record\s*$/i));
    if (rec && running) rec.click();
  }
  function stop() {
    const wasRunning = running;
    running = false; showButtons();
    for (const sel of ['#live-cam', '#live-mic']) {
      const b = byText(q(sel), /^\s*stop\s*$/i) || q(sel + ' button.stop-button');
      if (b) b.click();
    }
    tracks.forEach((t) => t.stop());
    tracks.clear();
    document.querySelectorAll('#live-cam video').forEach((v) => { v.srcObject?.getTracks().forEach((t) => t.stop()); v.srcObject = null; });
    return wasRunning;
  }
  function csv(d) {
    const labels = Object.keys(d.scores || {});
    const rows = [['scope', 'start_s', 'end_s', ...labels, 'labels'].join(',')];
    rows.push(['overall', 0, d.duration ?? '', ...labels.map((k) => d.scores[k]), (d.labels || []).join(' ')].join(','));
    rows.push(['threshold', '', '', ...labels.map((k) => (d.thresholds || {})[k] ?? ''), ''].join(','));
    for (const p of d.timeline || []) rows.push(['window', p.start, p.end, ...labels.map((k) => p.scores[k]), ''].join(','));
    return rows.join('\n') + '\n';
  }
  function download(d, kind) {
    if (!d || !d.scores) return;
    const body = kind === 'csv' ? csv(d) : JSON.stringify(d, null, 2);
    const url = URL.createObjectURL(new Blob([body], {type: kind === 'csv' ? 'text/csv' : 'application/json'}));
    const a = Object.assign(document.createElement('a'), {href: url, download: 'tailor-result.' + kind});
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
  function seekable() {
    document.querySelectorAll('#clip-timeline .js-plotly-plot, #clip-heatmap .js-plotly-plot').forEach((el) => {
      if (el.__tailorSeek || !el.on) return;
      el.__tailorSeek = true;
      el.on('plotly_click', (ev) => {
        const v = q('#clip-video video');
        const x = ev && ev.points && ev.points[0] ? Number(ev.points[0].x) : NaN;
        if (v && Number.isFinite(x)) { v.currentTime = Math.max(0, x); v.scrollIntoView({block: 'nearest'}); }
      });
    });
  }
  setInterval(seekable, 700);
  document.addEventListener('visibilitychange', () => { if (document.hidden) stop(); });
  window.addEventListener('pagehide', stop);
  window.tailor = {start, stop, download, csv, tracks};
})();
