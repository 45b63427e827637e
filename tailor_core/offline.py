"""Keeping the process offline: no library phones home, from Python or from native code.

Two layers, both applied by the app and the CLI at start-up (``enforce()``), opt-in for library users:

1. :func:`disable_telemetry` sets the documented switches: Gradio's analytics and version check, Hugging Face
   Hub and Transformers telemetry and downloads.
2. :func:`block_name_lookups` covers what has no switch. MediaPipe's native Tasks library (1.2.x) sends usage
   metrics to ``play.googleapis.com`` from its own threads on every run; it has no opt-out. A seccomp filter on
   every thread of the process makes ``socket(AF_INET/AF_INET6, SOCK_DGRAM)`` fail with ``EACCES``: DNS
   lookups (UDP) fail at once, so nothing can resolve an outside host, while TCP (the server itself, loopback
   requests) and Unix sockets are untouched. The filter is inherited by later threads and child processes and
   cannot be lifted: call it only in a process that must stay offline (the app, the CLI).

``tests/test_offline.py`` proves it by tracing every ``connect``/``sendto``/``sendmmsg`` of a server start-up
and a request with ``strace -f`` (which sees native threads too) and failing on any non-loopback destination.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform

log = logging.getLogger(__name__)

TELEMETRY_SWITCHES: dict[str, str] = {
    "GRADIO_ANALYTICS_ENABLED": "False",  # Gradio: analytics and the version check at launch
    "HF_HUB_OFFLINE": "1",  # huggingface_hub: never download, never call the Hub
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",  # the cross-tool convention
}

# seccomp constants (linux/seccomp.h, linux/filter.h, linux/audit.h)
_ARCH = {"x86_64": (0xC000003E, 41, 317), "aarch64": (0xC00000B7, 198, 277)}  # audit arch, socket, seccomp
_AF_INET, _AF_INET6, _SOCK_DGRAM, _EACCES = 2, 10, 2, 13
_LD_ABS, _JEQ, _AND, _RET = 0x20, 0x15, 0x54, 0x06
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_PR_SET_NO_NEW_PRIVS, _SECCOMP_SET_MODE_FILTER, _SECCOMP_FILTER_FLAG_TSYNC = 38, 1, 1

_blocked = False


class _Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Insn))]


def disable_telemetry() -> None:
    """Set every known telemetry/update switch (before the libraries are imported, where it matters)."""
    os.environ.update(TELEMETRY_SWITCHES)


def block_name_lookups() -> bool:
    """Make every thread's UDP internet sockets fail (no DNS, so no host can be reached by name).

    Returns True when the filter is in place (Linux x86-64 or aarch64), False where it cannot be installed."""
    global _blocked
    if _blocked:
        return True
    machine = platform.machine().lower()
    if platform.system() != "Linux" or machine not in _ARCH:
        log.warning("cannot block network lookups on %s %s: rely on the telemetry switches", platform.system(),
                    machine)
        return False
    arch, nr_socket, nr_seccomp = _ARCH[machine]
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
    insns = (_Insn * len(prog))(*[_Insn(*i) for i in prog])
    fprog = _Prog(len(prog), insns)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.syscall(
            nr_seccomp, _SECCOMP_SET_MODE_FILTER, _SECCOMP_FILTER_FLAG_TSYNC, ctypes.byref(fprog)) != 0:
        log.warning("could not install the network-lookup filter (errno %d)", ctypes.get_errno())
        return False
    _blocked = True
    return True


def enforce() -> bool:
    """:func:`disable_telemetry` and :func:`block_name_lookups`; True when both are in place."""
    disable_telemetry()
    return block_name_lookups()
