"""The plugin registry: plugin name -> factory, with duplicates refused.

Upstream's `runtime.Registry`. A factory is called once per profile with the plugin's
arguments (from the profile's `pluginConfig`, defaulted) and the framework handle, and returns
the plugin. The in-tree registry is built in `kube.scheduler.plugins`; out-of-tree plugins
(entry points, `--plugin module:Class`) are merged into it with `merge`, which refuses a name
that is already taken rather than silently replacing a built-in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PluginFactory = Callable[[dict[str, Any], Any], Any]


class DuplicatePluginError(ValueError):
    """Two plugins registered under one name."""


class Registry(dict[str, PluginFactory]):
    def register(self, name: str, factory: PluginFactory) -> None:
        if name in self:
            raise DuplicatePluginError(f"a plugin named {name} already exists")
        self[name] = factory

    def unregister(self, name: str) -> None:
        if name not in self:
            raise KeyError(f"no plugin named {name} exists")
        del self[name]

    def merge(self, other: dict[str, PluginFactory]) -> None:
        for name, factory in other.items():
            self.register(name, factory)
