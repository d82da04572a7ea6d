"""KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1): reading, defaulting, checking.

The file is upstream's shape:

    apiVersion: kubescheduler.config.k8s.io/v1
    kind: KubeSchedulerConfiguration
    percentageOfNodesToScore: 0        # 0: adaptive (50% - nodes/125, at least 5%)
    parallelism: 16
    podInitialBackoffSeconds: 1
    podMaxBackoffSeconds: 10
    profiles:
    - schedulerName: default-scheduler
      plugins:
        multiPoint: {enabled: [...], disabled: [...]}
        score:
          enabled: [{name: NodeResourcesFit, weight: 5}]
          disabled: [{name: "*"}]
      pluginConfig:
      - name: NodeResourcesFit
        args: {scoringStrategy: {type: MostAllocated}}

Defaults are upstream v1's: one profile `default-scheduler` whose `multiPoint` enables the
default plugins in upstream's order with their score weights (TaintToleration 3, NodeAffinity
2, PodTopologySpread 2, InterPodAffinity 2, NodeResourcesFit 1, BalancedAllocation 1,
ImageLocality 1). The volume plugins are not part of this scheduler (there is no volume
binding yet). A profile's sets are merged over the defaults as upstream's `mergePluginSet`: a
disabled name (or `"*"`) drops defaults, an enabled default keeps its place with the new
weight, other enabled plugins follow. Per extension point, explicitly enabled plugins come
first, then the multiPoint plugins that implement the point and are not disabled there.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"
DEFAULT_SCHEDULER_NAME = "default-scheduler"

POINTS = (
    "preEnqueue",
    "queueSort",
    "preFilter",
    "filter",
    "postFilter",
    "preScore",
    "score",
    "reserve",
    "permit",
    "preBind",
    "bind",
    "postBind",
)


@dataclass(frozen=True)
class PluginRef:
    name: str
    weight: int = 0


@dataclass
class PluginSet:
    enabled: list[PluginRef] = field(default_factory=list)
    disabled: list[PluginRef] = field(default_factory=list)


DEFAULT_MULTIPOINT: tuple[PluginRef, ...] = (
    PluginRef("SchedulingGates"),
    PluginRef("PrioritySort"),
    PluginRef("NodeUnschedulable"),
    PluginRef("NodeName"),
    PluginRef("TaintToleration", 3),
    PluginRef("NodeAffinity", 2),
    PluginRef("NodePorts"),
    PluginRef("NodeResourcesFit", 1),
    PluginRef("PodTopologySpread", 2),
    PluginRef("InterPodAffinity", 2),
    PluginRef("DefaultPreemption"),
    PluginRef("NodeResourcesBalancedAllocation", 1),
    PluginRef("ImageLocality", 1),
    PluginRef("DefaultBinder"),
)

_CPU_MEMORY = [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]

DEFAULT_ARGS: dict[str, dict[str, Any]] = {
    "DefaultPreemption": {"minCandidateNodesPercentage": 10, "minCandidateNodesAbsolute": 100},
    "InterPodAffinity": {"hardPodAffinityWeight": 1, "ignorePreferredTermsOfExistingPods": False},
    "NodeAffinity": {},
    "NodeResourcesBalancedAllocation": {"resources": _CPU_MEMORY},
    "NodeResourcesFit": {
        "scoringStrategy": {"type": "LeastAllocated", "resources": _CPU_MEMORY},
    },
    "PodTopologySpread": {"defaultingType": "System"},
}


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the field."""


@dataclass
class Profile:
    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    plugins: dict[str, PluginSet] = field(default_factory=dict)
    plugin_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    percentage_of_nodes_to_score: int | None = None

    def args(self, name: str) -> dict[str, Any]:
        """The plugin's arguments: the profile's, over upstream's defaults."""
        merged = copy.deepcopy(DEFAULT_ARGS.get(name, {}))
        merged.update(copy.deepcopy(self.plugin_config.get(name, {})))
        return merged


@dataclass
class Configuration:
    profiles: list[Profile] = field(default_factory=lambda: [Profile()])
    percentage_of_nodes_to_score: int = 0
    parallelism: int = 16
    pod_initial_backoff_seconds: float = 1.0
    pod_max_backoff_seconds: float = 10.0
    leader_election: dict[str, Any] = field(default_factory=dict)
    client_connection: dict[str, Any] = field(default_factory=dict)

    def profile(self, scheduler_name: str) -> Profile | None:
        return next((p for p in self.profiles if p.scheduler_name == scheduler_name), None)


def merge_plugin_set(defaults: list[PluginRef], custom: PluginSet) -> list[PluginRef]:
    """upstream's mergePluginSet for one extension point."""
    disabled = {d.name for d in custom.disabled}
    custom_index = {p.name: i for i, p in enumerate(custom.enabled)}
    replaced: set[int] = set()
    out: list[PluginRef] = []
    if "*" not in disabled:
        for ref in defaults:
            if ref.name in disabled:
                continue
            if ref.name in custom_index:
                i = custom_index[ref.name]
                ref = custom.enabled[i]
                replaced.add(i)
            out.append(ref)
    out.extend(p for i, p in enumerate(custom.enabled) if i not in replaced)
    return out


def expand(
    profile: Profile, implements: Callable[[str, str], bool]
) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Per extension point, the plugin names in order; and the score weights (0 becomes 1)."""
    multipoint = merge_plugin_set(
        list(DEFAULT_MULTIPOINT), profile.plugins.get("multiPoint", PluginSet())
    )
    points: dict[str, list[str]] = {}
    weights: dict[str, int] = {}
    for ref in multipoint:
        weights[ref.name] = ref.weight
    for point in POINTS:
        specific = profile.plugins.get(point, PluginSet())
        disabled = {d.name for d in specific.disabled}
        names: list[str] = []
        for ref in specific.enabled:
            if ref.name not in names:
                names.append(ref.name)
                if point == "score":
                    weights[ref.name] = ref.weight
        if "*" not in disabled:
            for ref in multipoint:
                if ref.name in names or ref.name in disabled:
                    continue
                if implements(ref.name, point):
                    names.append(ref.name)
        points[point] = names
    return points, {name: (w if w > 0 else 1) for name, w in weights.items()}


# -- reading -------------------------------------------------------------------------------


def _plugin_set(doc: Any, where: str) -> PluginSet:
    if doc is None:
        return PluginSet()
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: must be an object with enabled/disabled lists")

    def refs(key: str) -> list[PluginRef]:
        items = doc.get(key) or []
        if not isinstance(items, list):
            raise ConfigError(f"{where}.{key}: must be a list")
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ConfigError(f"{where}.{key}[{i}].name: Required value")
            weight = item.get("weight", 0) or 0
            if not isinstance(weight, int) or weight < 0:
                raise ConfigError(f"{where}.{key}[{i}].weight: must be a non-negative integer")
            out.append(PluginRef(item["name"], weight))
        return out

    return PluginSet(refs("enabled"), refs("disabled"))


def _percentage(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
        raise ConfigError(f"{where}: Invalid value: {value!r}: not in valid range [0-100]")
    return value


def parse(doc: Any) -> Configuration:
    """A Configuration from a decoded document; ConfigError naming the field otherwise."""
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError("the configuration must be a KubeSchedulerConfiguration object")
    if doc.get("apiVersion", API_VERSION) != API_VERSION:
        raise ConfigError(
            f"apiVersion {doc.get('apiVersion')!r} is not supported; use {API_VERSION}"
        )
    if doc.get("kind", KIND) != KIND:
        raise ConfigError(f"kind {doc.get('kind')!r} is not supported; use {KIND}")
    config = Configuration()
    config.percentage_of_nodes_to_score = (
        _percentage(doc.get("percentageOfNodesToScore"), "percentageOfNodesToScore") or 0
    )
    parallelism = doc.get("parallelism", 16)
    if not isinstance(parallelism, int) or parallelism <= 0:
        raise ConfigError(f"parallelism: Invalid value: {parallelism!r}: should be an integer > 0")
    config.parallelism = parallelism
    initial = doc.get("podInitialBackoffSeconds", 1)
    maximum = doc.get("podMaxBackoffSeconds", 10)
    if not isinstance(initial, int) or initial <= 0:
        raise ConfigError(f"podInitialBackoffSeconds: Invalid value: {initial!r}: must be > 0")
    if not isinstance(maximum, int) or maximum < initial:
        raise ConfigError(
            f"podMaxBackoffSeconds: Invalid value: {maximum!r}: must be >= podInitialBackoffSeconds"
        )
    config.pod_initial_backoff_seconds = float(initial)
    config.pod_max_backoff_seconds = float(maximum)
    config.leader_election = dict(doc.get("leaderElection") or {})
    config.client_connection = dict(doc.get("clientConnection") or {})
    profiles_doc = doc.get("profiles")
    if profiles_doc is not None:
        if not isinstance(profiles_doc, list) or not profiles_doc:
            raise ConfigError("profiles: Required value: at least one profile is required")
        config.profiles = [_profile(p, f"profiles[{i}]") for i, p in enumerate(profiles_doc)]
    names = [p.scheduler_name for p in config.profiles]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"profiles[{i}].schedulerName: Duplicate value: {name!r}")
    return config


def _profile(doc: Any, where: str) -> Profile:
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: must be an object")
    name = doc.get("schedulerName", DEFAULT_SCHEDULER_NAME)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.schedulerName: Required value")
    plugins_doc = doc.get("plugins") or {}
    if not isinstance(plugins_doc, dict):
        raise ConfigError(f"{where}.plugins: must be an object")
    plugins: dict[str, PluginSet] = {}
    for point, value in plugins_doc.items():
        if point not in (*POINTS, "multiPoint"):
            raise ConfigError(f"{where}.plugins.{point}: unknown extension point")
        plugins[point] = _plugin_set(value, f"{where}.plugins.{point}")
    plugin_config: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(doc.get("pluginConfig") or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ConfigError(f"{where}.pluginConfig[{i}].name: Required value")
        if entry["name"] in plugin_config:
            raise ConfigError(f"{where}.pluginConfig[{i}]: Duplicate value: {entry['name']!r}")
        args = entry.get("args") or {}
        if not isinstance(args, dict):
            raise ConfigError(f"{where}.pluginConfig[{i}].args: must be an object")
        plugin_config[entry["name"]] = args
    return Profile(
        scheduler_name=name,
        plugins=plugins,
        plugin_config=plugin_config,
        percentage_of_nodes_to_score=_percentage(
            doc.get("percentageOfNodesToScore"), f"{where}.percentageOfNodesToScore"
        ),
    )


def load(path: Path) -> Configuration:
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from err
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or "cannot parse"
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path} is not valid YAML: {problem}{where}") from err
    return parse(doc)
