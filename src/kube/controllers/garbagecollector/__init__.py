"""The garbage collector: `graph` (the ownerReferences dependency graph) and `controller`
(the attempt-to-delete and attempt-to-orphan workers)."""
