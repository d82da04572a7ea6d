"""The `default` ServiceAccount and `kube-root-ca.crt` ConfigMap in every namespace."""

from __future__ import annotations

from pathlib import Path

from kube.api import errors
from kube.api.resources import resolve
from kube.client.rest import RESTClient
from kube.controllers.serviceaccount import ROOT_CA_CONFIGMAP, ROOT_CA_DESCRIPTION
from tests.controllers.conftest import controllers, eventually

NAMESPACES = resolve("namespaces")
SERVICE_ACCOUNTS = resolve("serviceaccounts")
CONFIGMAPS = resolve("configmaps")
assert NAMESPACES is not None
assert SERVICE_ACCOUNTS is not None
assert CONFIGMAPS is not None
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


async def _get(client: RESTClient, resource: object, name: str, ns: str) -> dict | None:
    try:
        return await client.get(resource, name, ns)  # type: ignore[arg-type]
    except errors.APIError as err:
        if err.code == 404:
            return None
        raise


async def test_new_namespaces_get_a_default_service_account_and_the_root_ca(
    bare_cluster: Path, client: RESTClient
) -> None:
    async with controllers(
        bare_cluster, "serviceaccount", "root-ca-cert-publisher", **{"root-ca-data": CA}
    ):
        await client.create(NAMESPACES, {"metadata": {"name": "sa-new"}})
        sa = await eventually(lambda: _get(client, SERVICE_ACCOUNTS, "default", "sa-new"))
        assert sa["metadata"]["namespace"] == "sa-new"
        cm = await eventually(lambda: _get(client, CONFIGMAPS, ROOT_CA_CONFIGMAP, "sa-new"))
        assert cm["data"] == {"ca.crt": CA}
        assert cm["metadata"]["annotations"]["kubernetes.io/description"] == ROOT_CA_DESCRIPTION

        # Deleted or edited, both come back as they were.
        await client.delete(SERVICE_ACCOUNTS, "default", "sa-new")
        await client.patch(CONFIGMAPS, ROOT_CA_CONFIGMAP, {"data": {"ca.crt": "x"}}, "sa-new")

        async def restored() -> bool:
            sa = await _get(client, SERVICE_ACCOUNTS, "default", "sa-new")
            cm = await _get(client, CONFIGMAPS, ROOT_CA_CONFIGMAP, "sa-new")
            return sa is not None and cm is not None and cm["data"] == {"ca.crt": CA}

        await eventually(restored)


async def test_namespaces_that_existed_before_the_controller_started_are_filled_in(
    bare_cluster: Path, client: RESTClient
) -> None:
    await client.create(NAMESPACES, {"metadata": {"name": "sa-old"}})
    assert await _get(client, SERVICE_ACCOUNTS, "default", "sa-old") is None
    async with controllers(bare_cluster, "serviceaccount"):
        await eventually(lambda: _get(client, SERVICE_ACCOUNTS, "default", "sa-old"))
        # kube-system and the other bootstrap namespaces too.
        await eventually(lambda: _get(client, SERVICE_ACCOUNTS, "default", "kube-system"))
