"""Item fingerprints: how a baseline file keeps a fixed-size sample of its items.

An item id's key is 12 hex digits of its BLAKE2b hash. A baseline file keeps the keys
at most a cutoff (the 256th smallest key of its run) and says so through its run's
`params[ITEM_SAMPLE_PARAM]`; pairing then compares any other run's items through the
same keys and cutoff, so both sides are the same consistent sample.
"""

from __future__ import annotations

import hashlib

# Run.params key of a baseline file's item fingerprint: the cutoff of its sample.
ITEM_SAMPLE_PARAM = "llmc_item_sample_max"
SAMPLE_HASH = "blake2b-48"


def item_key(item_id: str) -> str:
    """The fingerprint key of an item id."""
    return hashlib.blake2b(item_id.encode("utf-8"), digest_size=6).hexdigest()


def is_key(value: object) -> bool:
    return (
        isinstance(value, str) and len(value) == 12 and all(c in "0123456789abcdef" for c in value)
    )
