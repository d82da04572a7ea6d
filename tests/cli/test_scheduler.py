"""`kube scheduler` flags and configuration file: bad input is one line and exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from kube.cli import scheduler
from kube.cli.main import build_parser, main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = main(["scheduler", *argv])
    except SystemExit as exit:
        code = int(exit.code or 0)
    return code, capsys.readouterr().err


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "admin.kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    return path


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sched.yaml"
    path.write_text(text)
    return path


def test_kubeconfig_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys)
    assert code == 2
    assert "the following arguments are required: --kubeconfig" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: Nope\n", "--config: kind 'Nope' is not supported"),
        ("percentageOfNodesToScore: 200\n", "percentageOfNodesToScore: Invalid value: 200"),
        (
            "profiles: [{plugins: {filter: {enabled: [{name: Missing}]}}}]\n",
            "plugin 'Missing' is not registered",
        ),
        (
            "profiles: [{plugins: {bind: {enabled: [{name: NodeName}]}}}]\n",
            "plugin 'NodeName' does not implement the bind extension point",
        ),
        ("{{{\n", "is not valid YAML"),
    ],
)
def test_bad_configuration_files_are_refused(
    capsys: pytest.CaptureFixture[str], kubeconfig: Path, tmp_path: Path, text: str, message: str
) -> None:
    path = config_file(tmp_path, text)
    code, err = run(capsys, "--kubeconfig", str(kubeconfig), "--config", str(path))
    assert code == 2
    assert err.startswith("kube scheduler: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_flags_and_the_file_make_the_config(kubeconfig: Path, tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        "apiVersion: kubescheduler.config.k8s.io/v1\n"
        "kind: KubeSchedulerConfiguration\n"
        "leaderElection: {leaderElect: false, leaseDuration: 20s, resourceName: mine}\n"
        "clientConnection: {qps: 5, burst: 7, contentType: application/vnd.kubernetes.protobuf}\n"
        "profiles: [{schedulerName: packer}]\n",
    )
    args = build_parser().parse_args(
        ["scheduler", "--kubeconfig", str(kubeconfig), "--config", str(path), "--kube-api-qps=9"]
    )
    config = scheduler.configure(args)
    assert config.leader_elect is False
    assert (config.lease_duration, config.lease_name) == (20.0, "mine")
    assert (config.qps, config.burst, config.protobuf) == (9.0, 7, True)
    assert [p.scheduler_name for p in config.config.profiles] == ["packer"]
    defaults = scheduler.configure(
        build_parser().parse_args(["scheduler", "--kubeconfig", str(kubeconfig)])
    )
    assert (
        defaults.leader_elect,
        defaults.lease_name,
        defaults.qps,
        defaults.burst,
        defaults.protobuf,
    ) == (True, "kube-scheduler", 50.0, 100, False)


class Spread:
    """An out-of-tree Score plugin for the --plugin tests."""

    NAME = "SpreadByName"

    def __init__(self, args: dict[str, object], handle: object) -> None:
        self.args = args

    def score(self, state: object, pod: object, node_info: object) -> tuple[int, object]:
        raise NotImplementedError


def test_plugin_flag_registers_a_class_enabled_by_name(kubeconfig: Path, tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        "profiles: [{plugins: {score: {enabled: [{name: SpreadByName, weight: 3}]}}}]\n",
    )
    argv = ["scheduler", "--kubeconfig", str(kubeconfig), "--config", str(path)]
    argv += ["--plugin", f"{__name__}:Spread"]
    config = scheduler.configure(build_parser().parse_args(argv))
    assert config.registry["SpreadByName"] is Spread


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nomodule_xyz:Thing", "cannot import nomodule_xyz"),
        ("os:nothing_here", "os has no nothing_here"),
        ("os:path", "is not a plugin class with a NAME"),
        ("justamodule", "use module:Class"),
        (f"{__name__}:Duplicate", "a plugin named PrioritySort already exists"),
    ],
)
def test_bad_plugins_are_refused(
    capsys: pytest.CaptureFixture[str], kubeconfig: Path, spec: str, message: str
) -> None:
    code, err = run(capsys, "--kubeconfig", str(kubeconfig), "--plugin", spec)
    assert code == 2
    assert message in err


class Duplicate:
    NAME = "PrioritySort"
