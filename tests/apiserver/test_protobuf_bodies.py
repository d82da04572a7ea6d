"""Protobuf request bodies are typed by their message: the JSON type check is not needed.

The API server checks a JSON or YAML body's values against the kind's schema (what decoding
into the Go struct refuses, `kube.api.typecheck`) but not a protobuf body's: the decoder gives
every field its message's type. This holds that up against upstream's round-trip fixtures
(every field of every served kind populated).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kube.api import typecheck
from kube.apiserver.fieldtypes import field_type
from kube.codec import protobuf
from tests.codec.test_protobuf import GOLDEN, SERVED, group_version_kind

SERVED_GOLDEN = [p for p in GOLDEN if group_version_kind(p) in SERVED]


def test_fixtures_of_served_kinds_are_there() -> None:
    assert len(SERVED_GOLDEN) >= 35


@pytest.mark.parametrize("path", SERVED_GOLDEN, ids=[p.stem for p in SERVED_GOLDEN])
def test_a_decoded_protobuf_body_passes_the_json_type_check(path: Path) -> None:
    group, version, kind = group_version_kind(path)
    obj = protobuf.decode_object(path.read_bytes())
    assert typecheck.first_error(obj, field_type(group, version, kind)) is None
