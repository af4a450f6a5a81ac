"""Whether a download can start: a quick reachability probe, so that an offline machine
fails at once instead of after TFDS's or urlopen's retries and timeouts."""

from __future__ import annotations

import socket
import threading


def network_reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``host`` opens within ``timeout`` seconds (name lookup
    included)."""
    opened = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            opened.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)  # a hanging name lookup is left behind
    thread.start()
    thread.join(timeout)
    return bool(opened)
