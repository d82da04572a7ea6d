"""KubeSchedulerConfiguration v1: defaults, merging, and files that are refused with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from kube.scheduler.config import ConfigError, load, parse
from kube.scheduler.framework.runtime import Framework
from kube.scheduler.plugins import in_tree_registry


def test_defaults_are_upstreams() -> None:
    config = parse(None)
    assert [p.scheduler_name for p in config.profiles] == ["default-scheduler"]
    assert (config.percentage_of_nodes_to_score, config.parallelism) == (0, 16)
    assert (config.pod_initial_backoff_seconds, config.pod_max_backoff_seconds) == (1.0, 10.0)
    fwk = Framework(config.profiles[0], in_tree_registry())
    assert fwk.weights["TaintToleration"] == 3
    assert fwk.weights["PodTopologySpread"] == 2
    assert fwk.profile.args("NodeResourcesFit")["scoringStrategy"]["type"] == "LeastAllocated"


def test_a_file_with_two_profiles_and_plugin_args(tmp_path: Path) -> None:
    path = tmp_path / "sched.yaml"
    path.write_text(
        """
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 30
profiles:
- schedulerName: default-scheduler
- schedulerName: bin-packer
  plugins:
    score:
      disabled: [{name: NodeResourcesBalancedAllocation}]
  pluginConfig:
  - name: NodeResourcesFit
    args: {scoringStrategy: {type: MostAllocated}}
"""
    )
    config = load(path)
    assert config.percentage_of_nodes_to_score == 30
    packer = config.profiles[1]
    fwk = Framework(packer, in_tree_registry())
    assert "NodeResourcesBalancedAllocation" not in [p.NAME for p in fwk.points["score"]]
    assert fwk.instances["NodeResourcesFit"].strategy == "MostAllocated"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"apiVersion": "v2"}, "apiVersion 'v2' is not supported"),
        ({"percentageOfNodesToScore": 101}, "percentageOfNodesToScore: Invalid value: 101"),
        ({"profiles": []}, "profiles: Required value"),
        (
            {"profiles": [{"schedulerName": "a"}, {"schedulerName": "a"}]},
            "profiles[1].schedulerName: Duplicate value: 'a'",
        ),
        ({"profiles": [{"plugins": {"sideways": {}}}]}, "unknown extension point"),
        ({"podMaxBackoffSeconds": 0}, "podMaxBackoffSeconds: Invalid value: 0"),
    ],
)
def test_bad_files_are_refused(doc: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(doc)
    assert message in str(err.value)
