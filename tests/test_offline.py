"""Nothing leaves the machine: a server start-up and a request, and a library user's ``load_model()`` and one
prediction, traced at the system-call level.

``strace -f`` records every ``connect``/``sendto``/``sendmsg``/``sendmmsg`` of the process and of every thread it
starts, native ones included (MediaPipe's metrics uploader and onnxruntime's telemetry are native code), so a
connection attempt from any library is seen, not assumed away. The tests fail on any internet destination that
is not loopback. The library test runs in a fresh network namespace where one can be made, with a stand-in nscd
socket where a mount namespace can be made too (a host lookup must not reach a local name service either), and
without any telemetry switch in its environment: ``import tailor_core`` must keep the promise by itself, with no
process-wide filter (see ``docs/privacy.md``).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from app_helpers import HAPPY, ROOT, _wait_http, free_port, make_no_face_clip

needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace missing: apt-get install strace")

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


@needs_strace
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


def _outside_attempts(trace: str) -> tuple[list[str], list[str]]:
    """(loopback, non-loopback) internet destinations of the connect/send calls in an strace log."""
    dests = [(m.group(2) or m.group(3), line) for line in trace.splitlines() if (m := DEST.search(line))]
    return [line for a, line in dests if _loopback(a)], [line for a, line in dests if not _loopback(a)]


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run([*cmd, "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _isolation() -> tuple[list[str], bool]:
    """(command prefix for a fresh network namespace, whether it has a private mount namespace too)."""
    for prefix, mounts in ((["unshare", "-n", "-m"], True), (["unshare", "-r", "-n", "-m"], True),
                           (["unshare", "-n"], False), (["unshare", "-r", "-n"], False)):
        if shutil.which("unshare") and _works(prefix):
            return prefix, mounts
    return [], False


#: A library user's script: no telemetry switch set, no filter asked for; it reports what it saw as JSON.
LIBRARY_USER = r"""
import json, os, socket, struct, sys, threading, time

nscd = []  # (request type, key) of every request the stand-in nscd gets
if os.environ.get("FAKE_NSCD"):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(os.environ["FAKE_NSCD"])
    server.listen(16)

    def serve():
        while True:
            conn, _ = server.accept()
            with conn:
                head = conn.recv(12)  # glibc's request header: version, type, key length
                if len(head) == 12:
                    _, kind, n = struct.unpack("iii", head)
                    nscd.append([kind, conn.recv(n).rstrip(b"\0").decode(errors="replace")])

    threading.Thread(target=serve, daemon=True).start()

import tailor_core

predictor = tailor_core.load_model(device="cpu")
result = predictor.predict(video=sys.argv[1])
time.sleep(8)  # MediaPipe's uploader runs seconds after a landmarker is used or closed


def seccomp(tid):
    for line in open(f"/proc/self/task/{tid}/status"):
        if line.startswith("Seccomp:"):
            return int(line.split()[1])


probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the caller keeps its network: this must not fail
try:
    probe.connect(("127.0.0.1", 9))  # and this loopback attempt shows the trace sees this process
except OSError:
    pass
tids = os.listdir("/proc/self/task")
print("REPORT " + json.dumps({
    "scores": result.scores, "nscd": nscd, "main_seccomp": seccomp(threading.get_native_id()),
    "sealed_threads": sum(seccomp(t) == 2 for t in tids), "threads": len(tids),
}), flush=True)
"""

NSCD_HOST_REQUESTS = {4, 5, 6, 7, 13, 14}  # GETHOSTBYNAME(v6), GETHOSTBYADDR(v6), GETFDHST, GETAI


@needs_strace
def test_library_load_and_predict_stay_offline(tmp_path):
    """``import tailor_core; tailor_core.load_model().predict(video=...)``: no attempt to reach anything outside,
    by name or by address, from any thread, and no telemetry file; the caller's own threads keep their network."""
    prefix, mounts = _isolation()
    home, tmp, log = tmp_path / "home", tmp_path / "tmp", tmp_path / "net.log"
    home.mkdir()
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("ORT_DISABLE_TELEMETRY", "HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "TRANSFORMERS_OFFLINE",
                        "DO_NOT_TRACK", "GRADIO_ANALYTICS_ENABLED")}
    env.update(HOME=str(home), TMPDIR=str(tmp), PYTHONUNBUFFERED="1")
    traced = ["strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg,sendmmsg", "-o", str(log),
              sys.executable, "-c", LIBRARY_USER, str(HAPPY)]
    if mounts:  # a stand-in nscd: glibc asks it first for every lookup, by name, over a local socket
        env["FAKE_NSCD"] = "/run/nscd/socket"
        cmd = [*prefix, "sh", "-c", 'mount -t tmpfs tailor-test /run && mkdir -p /run/nscd && exec "$@"', "sh",
               *traced]
    else:
        cmd = [*prefix, *traced]
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    reports = [line for line in run.stdout.splitlines() if line.startswith("REPORT ")]
    assert run.returncode == 0 and reports, f"the library run failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    report = json.loads(reports[-1][len("REPORT "):])
    assert max(report["scores"], key=report["scores"].get) == "happy", report["scores"]
    loopback, outside = _outside_attempts(log.read_text())
    assert loopback, "the trace saw no loopback attempt: is tracing working?"
    assert not outside, "outbound attempts:\n" + "\n".join(outside[:10])
    host_lookups = [r for r in report["nscd"] if r[0] in NSCD_HOST_REQUESTS]
    assert not host_lookups, f"host lookups reached the local name service: {host_lookups}"
    assert report["main_seccomp"] == 0, "a process-wide filter was installed in a library user's process"
    assert report["sealed_threads"] > 0, "no MediaPipe thread is sealed: the landmarker was made on an open thread"
    leftovers = [str(p) for p in (*home.rglob("*"), *tmp.rglob("*")) if "Microsoft" in p.parts or p.name == ".ses"]
    assert not leftovers, f"telemetry files written: {leftovers}"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread seals are Linux seccomp filters")
def test_sealed_call_seals_only_its_thread_and_those_it_starts():
    from tailor_core.offline import sealed_call

    def try_sockets() -> dict[str, object]:
        out: dict[str, object] = {}
        for name, fam, kind in (("udp", socket.AF_INET, socket.SOCK_DGRAM),
                                ("tcp6", socket.AF_INET6, socket.SOCK_STREAM),
                                ("unix", socket.AF_UNIX, socket.SOCK_STREAM)):
            try:
                socket.socket(fam, kind).close()
                out[name] = "open"
            except OSError as e:
                out[name] = e.errno
        return out

    def in_sealed() -> dict[str, object]:
        child: dict[str, object] = {}
        t = threading.Thread(target=lambda: child.update(try_sockets()))
        t.start()
        t.join()
        return {"own": try_sockets(), "child": child}

    sealed = sealed_call(in_sealed)
    assert sealed["own"] == sealed["child"] == {"udp": errno.EACCES, "tcp6": errno.EACCES, "unix": errno.EACCES}
    assert try_sockets() == {"udp": "open", "tcp6": "open", "unix": "open"}  # the caller is untouched
    assert sealed_call(divmod, 7, 2) == (3, 1)
    with pytest.raises(ZeroDivisionError):
        sealed_call(divmod, 1, 0)
