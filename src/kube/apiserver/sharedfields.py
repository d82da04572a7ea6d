"""One copy of each managedFields document among the objects the watch cache keeps.

A cached object is a decoded dict, and a fifth to two fifths of a pod's is its managedFields:
the `fieldsV1` tree of each manager, a nest of small dicts (8.5 KB of a 21.5 KB Running pod).
The pods of one template, updated by the same managers, carry identical trees. Decoding gives
each its own copy; `SharedFields` swaps each tree for the first equal one it saw, so the
cache keeps one copy per distinct document instead of one per object and revision (upstream's
watch cache keeps Go structs, where the same bytes cost a few hundred bytes a pod).

The watch cache's objects are shared by every reader and never changed in place (writers
copy them first), which is what makes sharing their parts safe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import orjson

from kube.api.meta import Object
from kube.storage.backend import KeyValue

KEPT: Final = 4096  # distinct documents remembered; past that the memo starts afresh


class SharedFields:
    """Interns the `fieldsV1` documents of decoded objects."""

    def __init__(self, kept: int = KEPT) -> None:
        self.kept = kept
        self._documents: dict[bytes, Any] = {}

    def share(self, obj: Object) -> Object:
        """`obj`, its managedFields' documents replaced by the equal ones seen before."""
        meta = obj.get("metadata")
        entries = meta.get("managedFields") if isinstance(meta, dict) else None
        if not isinstance(entries, list):
            return obj
        documents = self._documents
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            fields = entry.get("fieldsV1")
            if not isinstance(fields, dict):
                continue
            key = orjson.dumps(fields)
            seen = documents.get(key)
            if seen is None:
                if len(documents) >= self.kept:
                    documents.clear()
                documents[key] = fields
            else:
                entry["fieldsV1"] = seen
        return obj

    def decoding(self, decode: Callable[[KeyValue], Object]) -> Callable[[KeyValue], Object]:
        """`decode` whose objects share their managedFields documents."""
        return lambda kv: self.share(decode(kv))
