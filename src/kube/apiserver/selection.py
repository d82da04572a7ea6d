"""Label and field selection of a list or watch request, applied in batches by native kernels.

A `Selection` is built once per request from `?labelSelector=` and `?fieldSelector=`. Lists
filter whole pages in one call of each kernel (`kube.native.match_labels`, `match_fields`);
watches ask about one object at a time, including the previous state, to tell objects that
move into or out of the selection.
"""

from __future__ import annotations

from dataclasses import dataclass

from kube.api import errors
from kube.api.meta import Object, labels_of
from kube.api.selectors import (
    Requirement,
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from kube.apiserver.fields import check_selectable, field_values
from kube.native import match_fields, match_labels


@dataclass(frozen=True)
class Selection:
    labels: list[Requirement]
    fields: list[Requirement]

    @classmethod
    def parse(cls, kind: str, label_selector: str, field_selector: str) -> Selection:
        try:
            labels = parse_label_selector(label_selector)
            fields = parse_field_selector(field_selector)
        except SelectorError as err:
            raise errors.bad_request(str(err)) from err
        return cls(labels, check_selectable(kind, fields))

    @property
    def everything(self) -> bool:
        return not self.labels and not self.fields

    def filter(self, objects: list[Object]) -> list[Object]:
        """The objects that match, in order."""
        if self.everything or not objects:
            return objects
        chosen = objects
        if self.labels:
            chosen = [chosen[i] for i in match_labels(self.labels, [labels_of(o) for o in chosen])]
        if self.fields and chosen:
            paths = [f for f, _, _ in self.fields]
            reqs = [(f, op, values[0]) for f, op, values in self.fields]
            sets = [field_values(o, paths) for o in chosen]
            chosen = [chosen[i] for i in match_fields(reqs, sets)]
        return chosen

    def matches(self, obj: Object) -> bool:
        return bool(self.filter([obj]))
