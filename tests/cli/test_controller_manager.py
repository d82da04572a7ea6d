"""`kube controller-manager` flags: bad input is one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from kube.cli import controller_manager
from kube.cli.main import build_parser, main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = main(["controller-manager", *argv])
    except SystemExit as exit:
        code = int(exit.code or 0)
    err = capsys.readouterr().err
    return code, err


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


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ([], "the following arguments are required: --kubeconfig"),
        (["--leader-elect-lease-duration", "4x"], "invalid duration '4x'"),
        (["--leader-elect=maybe"], "invalid boolean 'maybe'"),
        (
            ["--leader-elect-renew-deadline=20s"],
            "leaseDuration must be greater than renewDeadline",
        ),
        (
            ["--leader-elect-retry-period=9s"],
            "renewDeadline must be greater than retryPeriod*JitterFactor",
        ),
        (["--controllers=*,-nope"], '"nope" is not in the list of known controllers'),
        (["--leader-elect-resource-lock=endpoints"], "only 'leases' is supported"),
        (["--kube-api-qps=-1"], "--kube-api-qps -1.0 must not be negative"),
        (["--concurrent-deployment-syncs=0"], "--concurrent-deployment-syncs 0 must be"),
        (["--kube-api-content-type=application/xml"], "'application/xml' must be one of"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], kubeconfig: Path, flags: list[str], message: str
) -> None:
    argv = flags if not flags else ["--kubeconfig", str(kubeconfig), *flags]
    code, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("kube controller-manager: ")
    assert message in err


def test_a_missing_or_broken_kubeconfig_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, err = run(capsys, "--kubeconfig", str(tmp_path / "nope"))
    assert (code, err) == (
        2,
        f"kube controller-manager: --kubeconfig {tmp_path}/nope does not exist\n",
    )
    broken = tmp_path / "broken"
    broken.write_text("x: [")
    code, err = run(capsys, "--kubeconfig", str(broken))
    assert code == 2
    assert err.startswith(f"kube controller-manager: --kubeconfig: {broken}:")


def test_flags_become_the_config_with_upstream_defaults(kubeconfig: Path) -> None:
    parser = build_parser()
    args = parser.parse_args(["controller-manager", "--kubeconfig", str(kubeconfig)])
    config = controller_manager.configure(args)
    assert config.leader_elect is True
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (15, 10, 2)
    assert (config.lease_namespace, config.lease_name) == ("kube-system", "kube-controller-manager")
    assert (config.qps, config.burst) == (20, 30)
    assert config.options == {}

    args = parser.parse_args(
        [
            "controller-manager",
            "--kubeconfig",
            str(kubeconfig),
            "--controllers=",
            "--leader-elect=false",
            "--leader-elect-lease-duration=1m30s",
            "--leader-elect-renew-deadline=500ms",
            "--leader-elect-retry-period=0.2s",
            "--concurrent-deployment-syncs=7",
            "--node-monitor-grace-period=50s",
        ]
    )
    config = controller_manager.configure(args)
    assert config.controllers == []
    assert config.leader_elect is False
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (90, 0.5, 0.2)
    assert config.options == {"concurrent-deployment-syncs": 7, "node-monitor-grace-period": 50}


def test_go_durations() -> None:
    assert controller_manager.go_duration("1h2m3.5s") == 3723.5
    assert controller_manager.go_duration("250ms") == 0.25
    assert controller_manager.go_duration("0") == 0
    for bad in ("", "15", "s", "1d"):
        with pytest.raises(argparse.ArgumentTypeError):
            controller_manager.go_duration(bad)
