"""Ports, bounded polling and small helpers shared by every fixture."""

import http.client
import os
import socket
import threading
import time

_lock = threading.Lock()
_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago and was not handed out before."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with _lock:
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError("no free port after 200 attempts")


def wait_for(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll `predicate` until it returns a truthy value or `timeout` seconds pass.

    Returns the truthy value. Raises AssertionError naming `what` and the last value
    (or I/O exception) on timeout; an AssertionError raised by `predicate` ends the wait
    at once. Bounded by both the deadline and an iteration cap.
    """
    deadline = time.monotonic() + timeout
    last = None
    max_iterations = int(timeout / max(interval, 0.001)) + 10
    for _ in range(max_iterations):
        try:
            last = predicate()
            if last:
                return last
        except (OSError, ValueError, http.client.HTTPException) as error:
            last = error  # the polled endpoint is not up yet; AssertionError propagates at once
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}; last: {last!r}")


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def tail(path, limit: int = 12000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            data = f.read()
        prefix = "...\n" if size > limit else ""
        return prefix + data.decode("utf-8", "replace")
    except OSError as error:
        return f"<no log: {error}>"


# Logs of processes started by fixtures; attached to the report of a failing test.
LIVE_LOGS: dict[str, str] = {}
