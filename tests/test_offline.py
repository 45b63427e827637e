"""Nothing leaves the machine: a server start-up and a request traced at the system-call level.

``strace -f`` records every ``connect``/``sendto``/``sendmsg``/``sendmmsg`` of ``python app.py`` and of every
thread it starts, native ones included (MediaPipe's metrics uploader is native code), so a connection attempt
from any library is seen, not assumed away. The test fails on any internet destination that is not loopback.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from app_helpers import ROOT, _wait_http, free_port, make_no_face_clip

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace missing: apt-get install strace")

DEST = re.compile(r"sa_family=AF_INET6?, sin6?_port=htons\((\d+)\), (?:sin6_flowinfo=\S+, )?"
                  r"(?:inet_pton\(AF_INET6, \"([^\"]+)\"|sin_addr=inet_addr\(\"([^\"]+)\"\))")


def _loopback(addr: str) -> bool:
    return addr.startswith("127.") or addr in ("::1", "::") or addr.startswith("::ffff:127.")


def _child_pid(parent: int, timeout: float = 30) -> int:
    t0 = time.time()
    while time.time() - t0 < timeout:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("the traced app did not start")


def test_server_start_and_request_stay_offline(tmp_path):
    from gradio_client import Client, handle_file

    uploads = tmp_path / "tailor-uploads-test"
    log = tmp_path / "net.log"
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_TEMP_DIR": str(uploads),
           "GRADIO_SERVER_NAME": "127.0.0.1"}
    env.pop("GRADIO_ANALYTICS_ENABLED", None)  # the app must switch it off itself
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg,sendmmsg", "-o", str(log),
                               sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    app_pid = _child_pid(tracer.pid)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_http(url, timeout=240)
        result = Client(url, verbose=False).predict(handle_file(str(make_no_face_clip(tmp_path / "clip.mp4"))),
                                                    api_name="/predict_clip")
        assert set(result["scores"]) and result["present"]["audio"]
        time.sleep(6)  # MediaPipe's uploader runs a few seconds after use
    finally:
        os.kill(app_pid, 15)
        tracer.wait(timeout=60)
    calls = log.read_text().splitlines()
    destinations = [(m.group(2) or m.group(3), int(m.group(1)), line) for line in calls if (m := DEST.search(line))]
    assert any(_loopback(a) for a, _, _ in destinations), "the trace saw no loopback traffic: is tracing working?"
    outside = [line for a, _, line in destinations if not _loopback(a)]
    assert not outside, "outbound attempts:\n" + "\n".join(outside[:10])
    assert not uploads.exists() or not any(p.is_file() for p in uploads.rglob("*")), "uploads left after SIGTERM"
