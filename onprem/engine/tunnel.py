"""A local TCP port forwarded to an address on an SSH server (like `ssh -L`), robust to refusals.

Each accepted local connection gets its own `direct-tcpip` channel. A connection the remote side refuses
(a service still starting) closes only that local connection, as a refused TCP connect would; the
tunnel keeps serving. Fabric's `forward_local` instead fails the whole tunnel on the first refusal.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

BUFFER = 65536


def _pump(client: socket.socket, channel: Any, stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            readable, _, _ = select.select([client, channel], [], [], 0.5)
            if client in readable:
                data = client.recv(BUFFER)
                if not data:
                    break
                channel.sendall(data)
            if channel in readable:
                data = channel.recv(BUFFER)
                if not data:
                    break
                client.sendall(data)
    except OSError:
        pass
    finally:
        channel.close()
        client.close()


def _serve(listener: socket.socket, transport: Any, target: tuple[str, int], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            client, peer = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        try:
            channel = transport.open_channel("direct-tcpip", target, peer, timeout=10)
        except Exception:
            client.close()  # refused or unreachable on the far side: like a refused connect
            continue
        threading.Thread(target=_pump, args=(client, channel, stop), daemon=True).start()


@contextmanager
def forward(transport: Any, host: str, port: int) -> Iterator[int]:
    """Listen on a free 127.0.0.1 port for the block, forwarding to `host:port` seen from the server."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(listener, transport, (host, port), stop), daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()
