"""Object metadata helpers: names, uids, timestamps, owner and list shapes.

Objects are plain dicts in the JSON wire shape; these helpers read and fill their
`metadata` the way the API server's generic registry does upstream.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import secrets
import time
from collections import deque
from typing import Any

import orjson

Object = dict[str, Any]

# Upstream's generateName suffix alphabet: no vowels (no words), no confusable 0/1/3.
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SUFFIX_LENGTH = 5
MAX_GENERATED_NAME_LENGTH = 63 - _SUFFIX_LENGTH


# The last second formatted and its text: every write stamps the time (creationTimestamp, a
# managedFields entry) and hundreds a second share the same whole second.
_stamp: tuple[int, str] = (-1, "")


def now_rfc3339() -> str:
    """The current time as Kubernetes writes timestamps: RFC 3339, UTC, whole seconds."""
    global _stamp
    second = int(time.time())
    if second != _stamp[0]:
        _stamp = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
    return _stamp[1]


def parse_rfc3339(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def generate_name(base: str) -> str:
    """`base` + five random characters, as for `metadata.generateName`."""
    suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(_SUFFIX_LENGTH))
    return base[:MAX_GENERATED_NAME_LENGTH] + suffix


# Random bytes for uids, read from the OS for 256 at a time (a getrandom call per create was
# 2 % of a pod create's CPU on a loaded machine). A deque's popleft hands each out once across
# threads; a forked child empties it so it never repeats its parent's.
_UID_POOL = 256
_uid_pool: deque[bytes] = deque()
os.register_at_fork(after_in_child=_uid_pool.clear)


def new_uid() -> str:
    """A random (version 4, RFC 4122 variant) UUID in its 36-character text form; formatted
    here rather than through a `uuid.UUID` object (a quarter of the cost)."""
    try:
        raw = bytearray(_uid_pool.popleft())
    except IndexError:
        block = os.urandom(_UID_POOL * 16)
        _uid_pool.extend(block[i : i + 16] for i in range(16, len(block), 16))
        raw = bytearray(block[:16])
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def metadata(obj: Object) -> dict[str, Any]:
    """The object's metadata dict, created if absent."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
        obj["metadata"] = meta
    return meta


def name_of(obj: Object) -> str:
    meta = obj.get("metadata")
    return str(meta.get("name") or "") if isinstance(meta, dict) else ""


def namespace_of(obj: Object) -> str:
    meta = obj.get("metadata")
    return str(meta.get("namespace") or "") if isinstance(meta, dict) else ""


def copy_object(obj: Object) -> Object:
    """A deep copy of a JSON-shaped object, through orjson (several times `copy.deepcopy`'s
    speed); values orjson cannot write (integers past 64 bits, non-string keys from YAML) fall
    back to `copy.deepcopy`."""
    try:
        copied: Object = orjson.loads(orjson.dumps(obj))
    except TypeError:
        return copy.deepcopy(obj)
    return copied


def labels_of(obj: Object) -> dict[str, str]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return {}
    labels = meta.get("labels")
    return labels if isinstance(labels, dict) else {}


def api_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def list_object(
    api_version_: str, list_kind: str, items: list[Object], resource_version: str, **meta: Any
) -> Object:
    """A `<Kind>List` with `metadata.resourceVersion` (and `continue`, etc. when given)."""
    list_meta: dict[str, Any] = {"resourceVersion": resource_version}
    list_meta.update({k: v for k, v in meta.items() if v not in (None, "")})
    return {"kind": list_kind, "apiVersion": api_version_, "metadata": list_meta, "items": items}
