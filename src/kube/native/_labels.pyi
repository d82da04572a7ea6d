"""Type stub for the Cython build of kube.native.labels (src/_native/labels.pyx).

Same signatures as the pure-Python reference; call these through `kube.native`.
"""

from collections.abc import Iterable, Mapping

from kube.native.labels import FieldRequirement, Requirement

def match_labels(
    requirements: Iterable[Requirement], label_sets: Iterable[Mapping[str, str]]
) -> list[int]: ...
def match_fields(
    requirements: Iterable[FieldRequirement], field_sets: Iterable[Mapping[str, str]]
) -> list[int]: ...
