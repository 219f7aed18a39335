"""Reaching the Hugging Face hub: without a network, go to the local cache at once.

Asked for a hub name that is not cached, `huggingface_hub` retries a failed connection for
about 23 s per file (half a minute before the one-line error for BERT, several minutes for a
tokenizer) and logs each retry to stderr. `hub_unreachable` finds in milliseconds that the
hub's host does not resolve or refuses connections; the loaders then read the cache only (what
is cached loads as before, what is not fails at once, saying why).
"""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse

# seconds to wait for the hub's host to accept a connection
CONNECT_TIMEOUT_S = 5.0
# with any of these set, requests go through a proxy: the hub's host need not resolve here
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY",
                   "http_proxy")


@functools.cache
def hub_unreachable() -> str | None:
    """Why the Hugging Face hub cannot be reached from here (its host does not resolve or
    refuses a connection), or None: reachable, offline mode already on, or behind a proxy.
    Found once per process."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or any(os.environ.get(name) for name in PROXY_VARIABLES):
        return None
    url = urlparse(constants.ENDPOINT)
    host = url.hostname
    if not host:
        return None
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            return None
    except socket.gaierror as exc:
        return f"{host} does not resolve: {exc.strerror}"
    except OSError as exc:
        return f"{host}:{port} cannot be reached: {exc.strerror or type(exc).__name__}"
