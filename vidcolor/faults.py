"""Test hooks, inert unless the environment asks: injected faults and thread-hand-off jitter.

``VIDCOLOR_KILL_AT`` / ``VIDCOLOR_FAIL_AT`` make the fault tests' crashes; ``VIDCOLOR_JITTER``
makes the determinism test's random delays at every hand-off between threads (the decode queue,
the encoder queue, a segment's close and the next one's open), so a result that depends on how
the threads interleave shows up as different bytes.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time

_JITTER_LOCK = threading.Lock()
_JITTER: dict[str, random.Random] = {}


def fault_point(name: str) -> None:
    """Test hook for the fault tests; does nothing unless asked to by the environment.

    ``VIDCOLOR_KILL_AT=name:n`` SIGKILLs this process at the n-th pass here;
    ``VIDCOLOR_FAIL_AT=name:n`` raises a "no space left on device" error there instead.
    With ``VIDCOLOR_FAULT_ONCE=PATH`` the fault happens once among all processes (the first to
    create PATH): a Ray worker killed this way is not killed again when its task is retried.
    """
    for var in ("VIDCOLOR_KILL_AT", "VIDCOLOR_FAIL_AT"):
        spec = os.environ.get(var)
        if not spec or not spec.startswith(name + ":"):
            continue
        counter = f"_VIDCOLOR_COUNT_{var}"
        count = int(os.environ.get(counter, "0")) + 1
        os.environ[counter] = str(count)
        if count == int(spec.split(":")[1]) and _first_time():
            if var == "VIDCOLOR_KILL_AT":
                os.kill(os.getpid(), signal.SIGKILL)
            raise OSError(28, "No space left on device (injected)")


def _first_time() -> bool:
    marker = os.environ.get("VIDCOLOR_FAULT_ONCE")
    if not marker:
        return True
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def jitter(name: str) -> None:
    """Sleep 0..``VIDCOLOR_JITTER_MS`` (default 3) ms at hand-off ``name`` if asked to.

    ``VIDCOLOR_JITTER`` set asks (its value seeds the delays; ``random``: a fresh seed per
    process); otherwise this returns at once.
    """
    seed = os.environ.get("VIDCOLOR_JITTER")
    if not seed:
        return
    with _JITTER_LOCK:
        rng = _JITTER.get(seed)
        if rng is None:
            rng = _JITTER[seed] = random.Random(None if seed == "random" else seed)
        delay = rng.random() * float(os.environ.get("VIDCOLOR_JITTER_MS", "3")) / 1000.0
    time.sleep(delay)
