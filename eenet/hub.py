"""Reaching the Hugging Face hub: without a network, go to the local cache at once.

Asked for a hub name that is not cached, `huggingface_hub` retries a failed connection for
about 23 s per file (half a minute before the one-line error for BERT, several minutes for a
tokenizer) and logs each retry to stderr. `hub_unreachable` finds in milliseconds that the
hub's host does not resolve or refuses connections; the loaders then read the cache only (what
is cached loads as before, what is not fails at once, saying why).
"""

from __future__ import annotations

import functools
import socket
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import getproxies, proxy_bypass

# the folder the docs keep local copies of pretrained models in (local_models/README.md)
LOCAL_MODELS = "local_models"


def names_a_local_path(source: str | Path) -> bool:
    """Whether `source` is meant as a file or folder here, not a hub name: it exists, or is
    written as a path (./, ../, /, ~, a path in LOCAL_MODELS, or of more parts than a hub
    name's `owner/name`)."""
    text = str(source)
    return (text.startswith((".", "/", "~", f"{LOCAL_MODELS}/")) or text.count("/") > 1
            or Path(text).exists())


# seconds to wait for the hub's host to accept a connection (the name lookup before it is
# the system resolver's, which fails at once where there is no network)
CONNECT_TIMEOUT_S = 5.0


def behind_proxy(scheme: str, host: str) -> bool:
    """Whether a request to `host` by `scheme` goes through a proxy (the environment's or the
    system's, as `urllib.request` finds them): one set for that scheme, or for all, and
    `host` not exempted by `no_proxy`. A `no_proxy` alone sets no proxy."""
    proxies = getproxies()
    return bool(proxies.get(scheme) or proxies.get("all")) and not proxy_bypass(host)


@functools.cache
def hub_unreachable() -> str | None:
    """Why the Hugging Face hub cannot be reached from here (its host does not resolve or
    refuses a connection), or None: reachable, offline mode already on, or behind a proxy.
    Found once per process; behind a proxy (`behind_proxy`) the host need not resolve here:
    not checked."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return None
    url = urlparse(constants.ENDPOINT)
    host = url.hostname
    if not host or behind_proxy(url.scheme, host):
        return None
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            return None
    except socket.gaierror as exc:
        return f"{host} does not resolve: {exc.strerror}"
    except OSError as exc:
        return f"{host}:{port} cannot be reached: {exc.strerror or type(exc).__name__}"
