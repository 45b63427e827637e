"""Keeping the process offline: no library phones home, from Python or from native code.

Three layers:

1. Switches. ``import tailor_core`` sets :data:`LIBRARY_SWITCHES` (:func:`disable_library_telemetry`):
   onnxruntime's Microsoft telemetry is off unless the caller says otherwise. The app and the CLI also set
   Gradio's analytics and version check and Hugging Face Hub and Transformers telemetry and downloads
   (:func:`disable_telemetry`, at start-up).
2. :func:`sealed_call` covers what has no switch, for every user of the package, library users included, by
   default: MediaPipe's native Tasks library (1.2.x) starts a metrics uploader (to ``play.googleapis.com``) with
   every landmarker it creates; it has no opt-out. The face extractor creates every landmarker on a fresh thread
   that first seals itself: a seccomp filter on that one thread makes ``socket()`` fail with ``EACCES`` for any
   address family (and ``io_uring_setup`` too), and every thread it starts inherits it. MediaPipe's uploader and
   the resolver threads it starts are such threads, so they can neither look a name up (UDP or TCP to a DNS
   server, nor the local sockets of nscd, systemd-resolved or avahi) nor connect anywhere. The rest of the
   process, the caller's own threads included, keeps its network: no process-wide filter is installed.
3. :func:`block_name_lookups` (the app and the CLI, via :func:`enforce`) adds a process-wide filter: every
   thread's UDP internet sockets fail, so no DNS lookup can leave over UDP. It is defence in depth for a process
   that must stay offline: it cannot be lifted, and it does not stop lookups that go through a local socket
   (nscd, systemd-resolved's varlink socket) or TCP; layer 2 covers those for MediaPipe's threads.

``tests/test_offline.py`` proves it by tracing every ``connect``/``sendto``/``sendmsg``/``sendmmsg`` with
``strace -f`` (which sees native threads too) in a fresh network namespace, for a server start-up and a request
and for a library user's ``load_model()`` and one prediction, and failing on any non-loopback destination.
``docs/privacy.md`` says what is proven and how.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Switches set by default for every user of the package, library users included (``import tailor_core`` sets
#: the ones not set already): they stop native telemetry that would otherwise start with a library this package
#: uses. onnxruntime (faster-whisper's voice-activity model) sends Microsoft 1DS events to
#: ``mobile.events.data.microsoft.com`` and writes a device id, an event database (``~/.cache/Microsoft/``) and
#: a ``.ses`` file in the temp folder; it reads this switch when it is imported, so it must be set before that.
LIBRARY_SWITCHES: dict[str, str] = {
    "ORT_DISABLE_TELEMETRY": "1",
}

TELEMETRY_SWITCHES: dict[str, str] = {
    **LIBRARY_SWITCHES,
    "GRADIO_ANALYTICS_ENABLED": "False",  # Gradio: analytics and the version check at launch
    "HF_HUB_OFFLINE": "1",  # huggingface_hub: never download, never call the Hub
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",  # the cross-tool convention
}

# seccomp constants (linux/seccomp.h, linux/filter.h, linux/audit.h)
_ARCH = {"x86_64": (0xC000003E, 41, 317), "aarch64": (0xC00000B7, 198, 277)}  # audit arch, socket, seccomp
_NR_IO_URING_SETUP = 425  # the same number on x86-64 and aarch64
_X32_BIT = 0x40000000  # x86-64's x32 ABI numbers its system calls from here
_AF_INET, _AF_INET6, _SOCK_DGRAM, _EACCES = 2, 10, 2, 13
_LD_ABS, _JEQ, _JGE, _AND, _RET = 0x20, 0x15, 0x35, 0x54, 0x06
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_PR_SET_NO_NEW_PRIVS, _SECCOMP_SET_MODE_FILTER, _SECCOMP_FILTER_FLAG_TSYNC = 38, 1, 1

_blocked = False
_unsealed_warned = False


class _Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Insn))]


def _install(prog: list[tuple[int, int, int, int]], all_threads: bool) -> int:
    """Install a seccomp filter on this thread (``all_threads``: on every thread of the process); 0 or errno."""
    insns = (_Insn * len(prog))(*[_Insn(*i) for i in prog])
    fprog = _Prog(len(prog), insns)
    libc = ctypes.CDLL(None, use_errno=True)
    nr_seccomp = _ARCH[platform.machine().lower()][2]
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.syscall(
            nr_seccomp, _SECCOMP_SET_MODE_FILTER, _SECCOMP_FILTER_FLAG_TSYNC if all_threads else 0,
            ctypes.byref(fprog)) != 0:
        return ctypes.get_errno() or -1
    return 0


def _supported() -> bool:
    return platform.system() == "Linux" and platform.machine().lower() in _ARCH


def disable_telemetry() -> None:
    """Set every known telemetry/update switch (before the libraries are imported, where it matters)."""
    os.environ.update(TELEMETRY_SWITCHES)


def disable_library_telemetry() -> None:
    """Set each of :data:`LIBRARY_SWITCHES` the caller has not set (``import tailor_core`` calls it); warn once
    where a library was imported before it could take effect."""
    late = "onnxruntime" in sys.modules and "ORT_DISABLE_TELEMETRY" not in os.environ
    for key, value in LIBRARY_SWITCHES.items():
        os.environ.setdefault(key, value)
    if late:
        log.warning("onnxruntime was imported before tailor_core, so its telemetry is on in this process: set "
                    "ORT_DISABLE_TELEMETRY=1 before importing it (see docs/privacy.md)")


def block_name_lookups() -> bool:
    """Make every thread's UDP internet sockets fail (no DNS over UDP, so no host can be reached by name).

    Process-wide and permanent: for a process that must stay offline (the app, the CLI). Lookups through a local
    socket (nscd, systemd-resolved's varlink socket) or over TCP are not stopped by it (see :func:`sealed_call`).
    Returns True when the filter is in place (Linux x86-64 or aarch64), False where it cannot be installed."""
    global _blocked
    if _blocked:
        return True
    if not _supported():
        log.warning("cannot block network lookups on %s %s: rely on the telemetry switches", platform.system(),
                    platform.machine())
        return False
    arch, nr_socket, _ = _ARCH[platform.machine().lower()]
    # socket(domain, type, ...): domain in {AF_INET, AF_INET6} and (type & 0xf) == SOCK_DGRAM -> EACCES.
    prog = [
        (_LD_ABS, 0, 0, 4),  # 0: arch
        (_JEQ, 0, 8, arch),  # 1: other arch -> 10 (allow)
        (_LD_ABS, 0, 0, 0),  # 2: syscall number
        (_JEQ, 0, 6, nr_socket),  # 3: not socket -> 10
        (_LD_ABS, 0, 0, 16),  # 4: args[0] = domain
        (_JEQ, 1, 0, _AF_INET),  # 5: AF_INET -> 7
        (_JEQ, 0, 3, _AF_INET6),  # 6: not AF_INET6 -> 10
        (_LD_ABS, 0, 0, 24),  # 7: args[1] = type
        (_AND, 0, 0, 0xF),  # 8: strip SOCK_NONBLOCK / SOCK_CLOEXEC
        (_JEQ, 2, 1, _SOCK_DGRAM),  # 9: datagram -> 12 (deny), else -> 11
        (_RET, 0, 0, _ALLOW),  # 10
        (_RET, 0, 0, _ALLOW),  # 11
        (_RET, 0, 0, _ERRNO | _EACCES),  # 12
    ]
    err = _install(prog, all_threads=True)
    if err:  # TSYNC also fails (err -1) once a thread has a filter of its own: call it before loading a model
        log.warning("could not install the network-lookup filter (errno %d)", err)
        return False
    _blocked = True
    return True


def seal_this_thread() -> bool:
    """Make every ``socket()`` (any address family) and ``io_uring_setup()`` of this thread, and of every thread
    it starts from now on, fail with ``EACCES``. Permanent for this thread: call it only on a thread of its own
    (:func:`sealed_call` does). Returns True when the filter is in place (Linux x86-64 or aarch64)."""
    if not _supported():
        return False
    arch, nr_socket, _ = _ARCH[platform.machine().lower()]
    prog = [
        (_LD_ABS, 0, 0, 4),  # 0: arch
        (_JEQ, 0, 4, arch),  # 1: other arch -> 6 (allow)
        (_LD_ABS, 0, 0, 0),  # 2: syscall number
        (_JGE, 3, 0, _X32_BIT),  # 3: x32 ABI -> 7 (deny)
        (_JEQ, 2, 0, nr_socket),  # 4: socket -> 7
        (_JEQ, 1, 0, _NR_IO_URING_SETUP),  # 5: io_uring_setup -> 7
        (_RET, 0, 0, _ALLOW),  # 6
        (_RET, 0, 0, _ERRNO | _EACCES),  # 7
    ]
    err = _install(prog, all_threads=False)
    if err:
        log.debug("could not seal the thread (errno %d)", err)
    return not err


def sealed_call(fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """``fn(*args, **kwargs)`` on a fresh thread that is sealed first (:func:`seal_this_thread`): every thread
    ``fn`` starts, native ones included, inherits the seal and can reach no network and no local name service,
    for as long as it lives. The calling thread and the rest of the process are untouched. The face extractor
    creates its MediaPipe landmarkers this way, so their metrics uploaders can send nothing.

    Where a thread cannot be sealed (not Linux x86-64/aarch64, seccomp unavailable) ``fn`` still runs, and a
    warning says once that native telemetry is not stopped there."""
    global _unsealed_warned
    out: dict[str, object] = {}

    def run() -> None:
        out["sealed"] = seal_this_thread()
        try:
            out["value"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            out["error"] = e

    worker = threading.Thread(target=run, name="tailor-sealed", daemon=True)
    worker.start()
    worker.join()
    if not out.get("sealed") and not _unsealed_warned:
        _unsealed_warned = True
        log.warning("cannot seal MediaPipe's threads on %s %s: its native usage metrics are not stopped here; "
                    "see docs/privacy.md", platform.system(), platform.machine())
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["value"]  # type: ignore[return-value]


def enforce() -> bool:
    """:func:`disable_telemetry` and :func:`block_name_lookups`; True when both are in place."""
    disable_telemetry()
    return block_name_lookups()
