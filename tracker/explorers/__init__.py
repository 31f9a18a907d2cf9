"""Esplora-compatible block explorers (mempool.space, blockstream.info, a self-hosted one):
``Explorer`` reads a tip height and an address's confirmed balance under the price sources'
rules (TLS always, http only to loopback, bounded retries, 429 honoured, a non-JSON or error
body never data), each explorer behind its own polite ``RateLimiter``."""

from __future__ import annotations

from tracker.explorers.client import (
    ADDRESS_PATH,
    TIP_PATH,
    Explorer,
    ExplorerError,
    RateLimiter,
    make_explorers,
)

__all__ = [
    "ADDRESS_PATH",
    "TIP_PATH",
    "Explorer",
    "ExplorerError",
    "RateLimiter",
    "make_explorers",
]
