"""The Job controller (upstream's pkg/controller/job): pods run to completion.

`controller` is the controller; `indexed` the Indexed completion mode's index arithmetic
(`status.completedIndexes` intervals, pending indexes, duplicate removal); `backoff` the
exponential delay before a failed pod is replaced; `podfailurepolicy` the matching of a
failed pod against `spec.podFailurePolicy`.
"""
