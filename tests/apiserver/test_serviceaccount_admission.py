"""The ServiceAccount admission plugin: what a created pod gets, and which pods are refused."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kube.api.errors import APIError
from kube.apiserver.admission import serviceaccount
from kube.apiserver.admission.serviceaccount import TOKEN_MOUNT_PATH, admit, mount_token


def _pod(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"containers": [{"name": "app", "image": "busybox"}]}
    return {"metadata": {"name": "web", "namespace": "ns"}, "spec": {**base, **spec}}


def _accounts(*found: dict[str, Any]) -> tuple[Any, list[tuple[str, str]]]:
    """A lookup over `found` accounts (in namespace `ns`) that records what it was asked."""
    asked: list[tuple[str, str]] = []
    by_name = {a["metadata"]["name"]: a for a in found}

    async def lookup(namespace: str, name: str) -> dict[str, Any] | None:
        asked.append((namespace, name))
        return by_name.get(name) if namespace == "ns" else None

    return lookup, asked


DEFAULT = {"metadata": {"name": "default", "namespace": "ns"}}


async def test_defaults_the_account_and_mounts_the_api_access_volume() -> None:
    lookup, asked = _accounts(DEFAULT)
    pod = _pod(initContainers=[{"name": "init", "image": "busybox"}])
    change = await admit(lookup, "ns", pod)
    pod = change(pod)
    spec = pod["spec"]
    assert asked == [("ns", "default")]
    assert spec["serviceAccountName"] == "default"
    assert spec["serviceAccount"] == "default"
    (volume,) = spec["volumes"]
    assert re.fullmatch(r"kube-api-access-[a-z0-9]{5}", volume["name"])
    assert volume["projected"] == {
        "defaultMode": 420,
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {
                "configMap": {
                    "name": "kube-root-ca.crt",
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                }
            },
            {
                "downwardAPI": {
                    "items": [
                        {
                            "path": "namespace",
                            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                        }
                    ]
                }
            },
        ],
    }
    mount = {"name": volume["name"], "readOnly": True, "mountPath": TOKEN_MOUNT_PATH}
    assert spec["containers"][0]["volumeMounts"] == [mount]
    assert spec["initContainers"][0]["volumeMounts"] == [mount]


async def test_missing_account_is_forbidden_with_upstreams_message() -> None:
    lookup, asked = _accounts()
    with pytest.raises(APIError) as caught:
        await admit(lookup, "ns", _pod(serviceAccountName="robot"))
    err = caught.value
    assert (err.code, err.reason) == (403, "Forbidden")
    assert err.message == (
        'pods "web" is forbidden: error looking up service account ns/robot: '
        'serviceaccount "robot" not found'
    )
    assert asked == [("ns", "robot")]  # a named account is read once


async def test_missing_default_account_is_read_again_before_refusing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lookup, asked = _accounts()
    sleeps: list[float] = []

    async def no_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    monkeypatch.setattr(serviceaccount.asyncio, "sleep", no_sleep)
    pod = _pod()
    pod["metadata"] = {"generateName": "web-", "namespace": "ns"}
    with pytest.raises(APIError) as caught:
        await admit(lookup, "ns", pod)
    assert caught.value.message.startswith('pods "web-" is forbidden: error looking up')
    assert len(asked) == 10
    assert len(sleeps) == 9
    assert all(0.1 <= s <= 0.2 for s in sleeps)


@pytest.mark.parametrize(
    ("pod_setting", "account_setting", "mounted"),
    [
        (None, None, True),
        (False, None, False),
        (None, False, False),
        (True, False, True),  # the pod's setting wins
        (False, True, False),
    ],
)
async def test_automount_setting(
    pod_setting: bool | None, account_setting: bool | None, mounted: bool
) -> None:
    account: dict[str, Any] = {"metadata": {"name": "default"}}
    if account_setting is not None:
        account["automountServiceAccountToken"] = account_setting
    lookup, _ = _accounts(account)
    pod = _pod() if pod_setting is None else _pod(automountServiceAccountToken=pod_setting)
    pod = (await admit(lookup, "ns", pod))(pod)
    assert ("volumes" in pod["spec"]) is mounted
    assert ("volumeMounts" in pod["spec"]["containers"][0]) is mounted
    assert pod["spec"]["serviceAccountName"] == "default"


def test_an_existing_mount_at_the_token_path_is_kept() -> None:
    own = {"name": "mine", "mountPath": TOKEN_MOUNT_PATH}
    spec: dict[str, Any] = {
        "volumes": [{"name": "mine", "emptyDir": {}}],
        "containers": [{"name": "a", "volumeMounts": [own]}],
    }
    mount_token(spec)
    assert spec["containers"][0]["volumeMounts"] == [own]
    assert spec["volumes"] == [{"name": "mine", "emptyDir": {}}]  # no container needs it


def test_an_existing_api_access_volume_is_reused() -> None:
    spec: dict[str, Any] = {
        "volumes": [{"name": "kube-api-access-abcde", "emptyDir": {}}],
        "containers": [
            {"name": "a"},
            {"name": "b", "volumeMounts": [{"name": "x", "mountPath": "/x"}]},
        ],
    }
    mount_token(spec)
    assert len(spec["volumes"]) == 1
    assert spec["containers"][0]["volumeMounts"][0]["name"] == "kube-api-access-abcde"
    assert [m["name"] for m in spec["containers"][1]["volumeMounts"]] == [
        "x",
        "kube-api-access-abcde",
    ]


async def test_pull_secrets_come_from_the_account_when_the_pod_has_none() -> None:
    account = {"metadata": {"name": "default"}, "imagePullSecrets": [{"name": "registry"}]}
    lookup, _ = _accounts(account)
    pod = (await admit(lookup, "ns", _pod()))(_pod())
    assert pod["spec"]["imagePullSecrets"] == [{"name": "registry"}]
    own = _pod(imagePullSecrets=[{"name": "mine"}])
    own = (await admit(lookup, "ns", own))(own)
    assert own["spec"]["imagePullSecrets"] == [{"name": "mine"}]


async def test_mirror_pods_are_left_alone_but_may_not_reference_accounts() -> None:
    lookup, asked = _accounts()
    mirror = _pod()
    mirror["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "hash"}
    before = repr(mirror)
    assert (await admit(lookup, "ns", mirror))(mirror) is mirror
    assert repr(mirror) == before
    assert asked == []
    for spec, why in [
        ({"serviceAccountName": "default"}, "a mirror pod may not reference service accounts"),
        ({"volumes": [{"name": "s", "secret": {"secretName": "x"}}]}, "may not reference secrets"),
        (
            {"volumes": [{"name": "t", "projected": {"sources": [{"serviceAccountToken": {}}]}}]},
            "a mirror pod may not use ServiceAccountToken volume projections",
        ),
    ]:
        bad = _pod(**spec)
        bad["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "hash"}
        with pytest.raises(APIError) as caught:
            await admit(lookup, "ns", bad)
        assert caught.value.code == 403
        assert why in caught.value.message
