"""Which hosts may be spoken to over plain HTTP (shared by the config and the live source)."""

from __future__ import annotations

import ipaddress


def is_loopback(hostname: str) -> bool:
    """Plain HTTP is allowed only to these hosts (a local PostHog or a test stand-in)."""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False
