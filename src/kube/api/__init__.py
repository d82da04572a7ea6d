"""The API machinery every layer shares: what resources exist and how objects look.

- `registry` / `resources`: the resource registry, one row per served resource (group,
  version, kind, scope, verbs, names, subresources, storage key) and the lookups on it;
- `meta`, `errors`, `selectors`, `patch`: object metadata, `Status` errors, label and field
  selectors, patch application.

This package is a low layer: it imports only `kube.codec` and `kube.native`.
"""
