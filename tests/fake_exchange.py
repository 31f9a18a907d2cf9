"""The loopback fake exchange (filled in with the sources)."""
