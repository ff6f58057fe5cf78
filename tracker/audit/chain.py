"""The hash chain itself: pure functions shared by the writer and the verifier."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64


def entry_digest(prev_hash: str, fields: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the entry's fields in canonical JSON.

    JSON escapes control characters and quotes, so no value can forge a field boundary.
    """
    payload = json.dumps(
        {key: value.isoformat() if isinstance(value, datetime) else value for key, value in fields.items()},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(f"{prev_hash}\n{payload}".encode("ascii")).hexdigest()
