"""The real kubectl 1.37 writing through `kube server`: the typed `create` commands, `run`,
`replace`, `diff`, `edit`, `wait` and the ways of deleting, checked by what kubectl prints.

Each test works in namespace `cmd-write` (made once for the module) on objects of its own.
"""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from tests.e2e.conftest import KUBECTL, Cluster
from tests.e2e.test_kubectl_commands import table

NS = "cmd-write"


@pytest.fixture(scope="module")
def k(cluster: Cluster) -> Cluster:
    """The cluster with this module's namespace."""
    out = cluster.kubectl("create", "namespace", NS).stdout
    assert out == f"namespace/{NS} created\n"
    return cluster


def configmap(name: str, **data: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": NS},
            "data": data,
        }
    )


# -- typed create commands -------------------------------------------------------------------


CREATE = [
    (
        ["service", "clusterip", "s1", "--tcp=80:8080"],
        "service/s1 created",
        ["svc", "s1"],
        ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
        ["s1", "ClusterIP"],
    ),
    (
        ["serviceaccount", "sa1"],
        "serviceaccount/sa1 created",
        ["sa", "sa1"],
        ["NAME", "SECRETS", "AGE"],
        ["sa1", "0"],
    ),
    (
        ["role", "r1", "--verb=get,list", "--resource=pods"],
        "role.rbac.authorization.k8s.io/r1 created",
        ["role", "r1"],
        ["NAME", "CREATED AT"],
        ["r1"],
    ),
    (
        ["rolebinding", "rb1", "--role=r1", f"--serviceaccount={NS}:sa1", "--user=alice"],
        "rolebinding.rbac.authorization.k8s.io/rb1 created",
        ["rolebinding", "rb1", "-o", "wide"],
        ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"],
        ["rb1", "Role/r1"],
    ),
    (
        ["clusterrole", "cmd-cr1", "--verb=get", "--resource=nodes"],
        "clusterrole.rbac.authorization.k8s.io/cmd-cr1 created",
        ["clusterrole", "cmd-cr1"],
        ["NAME", "CREATED AT"],
        ["cmd-cr1"],
    ),
    (
        ["priorityclass", "cmd-pc1", "--value=1000", "--description=high"],
        "priorityclass.scheduling.k8s.io/cmd-pc1 created",
        ["priorityclass", "cmd-pc1"],
        ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"],
        ["cmd-pc1", "1000", "false"],
    ),
    (
        ["job", "j1", "--image=busybox"],
        "job.batch/j1 created",
        ["job", "j1"],
        ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
        ["j1", "Running", "0/1"],
    ),
    (
        ["cronjob", "cj1", "--image=busybox", "--schedule=0 0 29 2 *"],
        "cronjob.batch/cj1 created",
        ["cronjob", "cj1"],
        ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"],
        ["cj1", "0 0 29 2 *", "<none>", "False", "0", "<none>"],
    ),
    (
        ["quota", "q1", "--hard=pods=10,cpu=2"],
        "resourcequota/q1 created",
        ["quota", "q1"],
        ["NAME", "REQUEST", "LIMIT", "AGE"],
        ["q1"],
    ),
    (
        ["ingress", "ing1", "--rule=foo.com/bar=svc1:8080"],
        "ingress.networking.k8s.io/ing1 created",
        ["ingress", "ing1"],
        ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"],
        ["ing1", "<none>", "foo.com", "80"],
    ),
    (
        ["poddisruptionbudget", "pdb1", "--selector=app=x", "--min-available=1"],
        "poddisruptionbudget.policy/pdb1 created",
        ["pdb", "pdb1"],
        ["NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"],
        ["pdb1", "1", "N/A", "0"],
    ),
]


@pytest.fixture(scope="module")
def created(k: Cluster) -> dict[str, str]:
    """Runs every create command of `CREATE` once; what each printed, by its first word."""
    return {args[0]: k.kubectl("create", *args, "-n", NS).stdout for args, *_ in CREATE}


@pytest.mark.parametrize(
    ("args", "printed", "get", "header", "row"), CREATE, ids=[c[0][0] for c in CREATE]
)
def test_create_prints_created_and_get_shows_it(
    k: Cluster,
    created: dict[str, str],
    args: list[str],
    printed: str,
    get: list[str],
    header: list[str],
    row: list[str],
) -> None:
    assert created[args[0]] == printed + "\n"
    rows = table(k.kubectl("get", *get, "-n", NS).stdout)
    assert rows[0] == header
    assert rows[1][: len(row)] == row


def test_created_objects_carry_what_the_flags_said(k: Cluster, created: dict[str, str]) -> None:
    def jsonpath(*args: str) -> str:
        return k.kubectl("get", *args, "-n", NS).stdout

    assert jsonpath("svc", "s1", "-o", "jsonpath={.spec.ports[0].targetPort}") == "8080"
    assert jsonpath("role", "r1", "-o", "jsonpath={.rules[0].verbs}") == '["get","list"]'
    assert jsonpath("rolebinding", "rb1", "-o", "wide", "--no-headers").split()[-2:] == [
        "alice",
        f"{NS}:sa1",
    ]
    assert jsonpath("cronjob", "cj1", "-o", "jsonpath={.spec.schedule}") == "0 0 29 2 *"
    assert jsonpath("quota", "q1", "-o", "jsonpath={.spec.hard}") == '{"cpu":"2","pods":"10"}'
    assert jsonpath("pdb", "pdb1", "-o", "jsonpath={.spec.selector.matchLabels}") == '{"app":"x"}'
    path = "jsonpath={.spec.rules[0].http.paths[0].backend.service}"
    assert jsonpath("ingress", "ing1", "-o", path) == '{"name":"svc1","port":{"number":8080}}'
    assert k.kubectl("get", "pc", "cmd-pc1", "-o", "jsonpath={.description}").stdout == "high"


# -- run -------------------------------------------------------------------------------------


def test_run_creates_a_pod_labelled_run(k: Cluster) -> None:
    out = k.kubectl("run", "r1", "--image=busybox", "--restart=Never", "-n", NS).stdout
    assert out == "pod/r1 created\n"
    rows = table(k.kubectl("get", "pod", "r1", "-n", NS, "--show-labels").stdout)
    assert rows[1][:3] == ["r1", "0/1", "Pending"]
    assert rows[1][-1] == "run=r1"


def test_run_dry_run_client_prints_without_asking_the_server(k: Cluster) -> None:
    out = k.kubectl(
        "run",
        "r2",
        "--image=busybox",
        "--restart=Never",
        "-n",
        NS,
        "--dry-run=client",
        "-o",
        "yaml",
    ).stdout
    pod = yaml.safe_load(out)
    assert pod["metadata"] == {"labels": {"run": "r2"}, "name": "r2", "namespace": NS}
    assert pod["spec"]["restartPolicy"] == "Never"
    assert "terminationMessagePath" not in pod["spec"]["containers"][0]
    gone = k.kubectl("get", "pod", "r2", "-n", NS, check=False)
    assert gone.returncode == 1
    assert 'pods "r2" not found' in gone.stderr


def test_run_dry_run_server_prints_the_defaulted_pod_and_stores_nothing(k: Cluster) -> None:
    out = k.kubectl(
        "run",
        "r3",
        "--image=busybox",
        "--restart=Never",
        "-n",
        NS,
        "--dry-run=server",
        "-o",
        "yaml",
    ).stdout
    pod = yaml.safe_load(out)
    assert pod["metadata"]["uid"]
    assert pod["metadata"]["creationTimestamp"]
    assert "resourceVersion" not in pod["metadata"]
    assert pod["spec"]["containers"][0]["terminationMessagePath"] == "/dev/termination-log"
    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert k.kubectl("get", "pod", "r3", "-n", NS, check=False).returncode == 1


# -- replace, diff, edit ---------------------------------------------------------------------


def test_replace_updates_in_place(k: Cluster) -> None:
    k.kubectl("create", "-f", "-", input=configmap("rep", a="1"))
    uid = k.kubectl("get", "cm", "rep", "-n", NS, "-o", "jsonpath={.metadata.uid}").stdout
    out = k.kubectl("replace", "-f", "-", input=configmap("rep", a="2")).stdout
    assert out == "configmap/rep replaced\n"
    got = k.kubectl("get", "cm", "rep", "-n", NS, "-o", "jsonpath={.data.a} {.metadata.uid}")
    assert got.stdout == f"2 {uid}"


def test_replace_force_deletes_and_recreates(k: Cluster) -> None:
    k.kubectl("create", "-f", "-", input=configmap("repf", a="1"))
    uid = k.kubectl("get", "cm", "repf", "-n", NS, "-o", "jsonpath={.metadata.uid}").stdout
    out = k.kubectl("replace", "--force", "-f", "-", input=configmap("repf", a="2")).stdout
    assert out.splitlines() == [
        f'configmap "repf" deleted from {NS} namespace',
        "configmap/repf replaced",
    ]
    got = k.kubectl("get", "cm", "repf", "-n", NS, "-o", "jsonpath={.data.a} {.metadata.uid}")
    value, new_uid = got.stdout.split()
    assert value == "2"
    assert new_uid != uid


def test_diff_of_an_unchanged_manifest_is_empty(k: Cluster) -> None:
    k.kubectl("apply", "-f", "-", input=configmap("dif", a="1"))
    result = k.kubectl("diff", "-f", "-", input=configmap("dif", a="1"), check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_diff_of_a_changed_manifest_exits_1_and_changes_nothing(k: Cluster) -> None:
    k.kubectl("apply", "-f", "-", input=configmap("difc", a="1"))
    result = k.kubectl("diff", "-f", "-", input=configmap("difc", a="2"), check=False)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("diff -u -N ")
    assert lines[1].startswith("--- ")
    assert lines[2].startswith("+++ ")
    assert [line for line in lines[3:] if line[:1] in "+-"] == ['-  a: "1"', '+  a: "2"']
    assert k.kubectl("get", "cm", "difc", "-n", NS, "-o", "jsonpath={.data.a}").stdout == "1"


def test_diff_of_a_new_object_shows_it_whole_and_creates_nothing(k: Cluster) -> None:
    result = k.kubectl("diff", "-f", "-", input=configmap("difn", a="1"), check=False)
    assert result.returncode == 1
    added = [line for line in result.stdout.splitlines()[3:] if not line.startswith("@@")]
    assert all(line.startswith("+") for line in added)
    assert {"+kind: ConfigMap", "+  name: difn", '+  a: "1"'} <= set(added)
    assert k.kubectl("get", "cm", "difn", "-n", NS, "--ignore-not-found").stdout == ""


def test_diff_of_an_object_made_by_create_shows_only_the_change(k: Cluster) -> None:
    k.kubectl("create", "-f", "-", input=configmap("difk", a="1"))
    result = k.kubectl("diff", "-f", "-", input=configmap("difk", a="2"), check=False)
    assert result.returncode == 1
    assert "annotations: {}" not in result.stdout


def test_a_number_in_configmap_data_is_refused_as_upstream_words_it(k: Cluster) -> None:
    """The classic unquoted-port mistake: upstream's decoder refuses it, nothing is written."""
    manifest = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: port, namespace: {NS}}}\n"
    for command in ("create", "apply"):
        result = k.kubectl(command, "-f", "-", input=manifest + "data: {port: 8080}\n", check=False)
        assert result.returncode == 1
        assert (
            'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal '
            "number into Go struct field ConfigMap.data of type string"
        ) in result.stderr
    assert k.kubectl("get", "cm", "port", "-n", NS, "--ignore-not-found").stdout == ""


def edit(k: Cluster, editor: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(k.kubeconfig), "edit", *args],
        env={**os.environ, "EDITOR": editor, "KUBE_EDITOR": editor},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_edit_patches_what_the_editor_changed(k: Cluster) -> None:
    k.kubectl("create", "-f", "-", input=configmap("ed", color="blue"))
    result = edit(k, "sed -i s/blue/green/", "cm", "ed", "-n", NS)
    assert (result.returncode, result.stdout) == (0, "configmap/ed edited\n")
    assert k.kubectl("get", "cm", "ed", "-n", NS, "-o", "jsonpath={.data.color}").stdout == "green"


def test_edit_without_changes_is_cancelled(k: Cluster) -> None:
    k.kubectl("create", "-f", "-", input=configmap("ed2", color="blue"))
    result = edit(k, "true", "cm", "ed2", "-n", NS)
    assert result.returncode == 0
    assert "Edit cancelled, no changes made." in result.stdout + result.stderr


# -- wait ------------------------------------------------------------------------------------


POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}}}
spec:
  containers: [{{name: c, image: busybox}}]
"""
READY = '{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}'


def test_wait_for_a_condition_set_through_the_status_subresource(k: Cluster) -> None:
    k.kubectl("apply", "-f", "-", input=POD.format(name="wr", ns=NS))
    early = k.kubectl(
        "wait", "--for=condition=Ready", "pod/wr", "-n", NS, "--timeout=0s", check=False
    )
    assert early.returncode == 1
    assert early.stderr == "error: condition not met for pods/wr\n"
    patched = k.kubectl(
        "patch", "pod", "wr", "-n", NS, "--subresource=status", "--type=merge", "-p", READY
    )
    assert patched.stdout == "pod/wr patched\n"
    out = k.kubectl("wait", "--for=condition=Ready", "pod/wr", "-n", NS, "--timeout=10s").stdout
    assert out == "pod/wr condition met\n"


def test_wait_for_a_jsonpath_value(k: Cluster) -> None:
    k.kubectl("apply", "-f", "-", input=POD.format(name="wj", ns=NS))
    k.kubectl("patch", "pod", "wj", "-n", NS, "--subresource=status", "--type=merge", "-p", READY)
    out = k.kubectl(
        "wait", "--for=jsonpath={.status.phase}=Running", "pod/wj", "-n", NS, "--timeout=10s"
    ).stdout
    assert out == "pod/wj condition met\n"


def test_wait_for_delete(k: Cluster) -> None:
    k.kubectl("create", "-f", "-", input=configmap("wd"))
    waiter = subprocess.Popen(
        [
            KUBECTL,
            "--kubeconfig",
            str(k.kubeconfig),
            "wait",
            "--for=delete",
            "cm/wd",
            "-n",
            NS,
            "--timeout=20s",
            "-v=6",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert waiter.stderr is not None
        for line in waiter.stderr:  # -v=6 logs each response; delete once the watch is open
            if "watch=true" in line:
                break
        k.kubectl("delete", "cm", "wd", "-n", NS)
        out, err = waiter.communicate(timeout=30)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.communicate()
    assert (waiter.returncode, out) == (0, "configmap/wd condition met\n"), err
    gone = k.kubectl("wait", "--for=delete", "cm/wd", "-n", NS, "--timeout=5s")
    assert gone.returncode == 0


# -- delete ----------------------------------------------------------------------------------


def test_delete_by_file(k: Cluster) -> None:
    manifest = configmap("df1") + "---\n" + configmap("df2")
    k.kubectl("create", "-f", "-", input=manifest)
    out = k.kubectl("delete", "-f", "-", input=manifest).stdout
    assert out.splitlines() == [
        f'configmap "df1" deleted from {NS} namespace',
        f'configmap "df2" deleted from {NS} namespace',
    ]
    assert k.kubectl("get", "cm", "df1", "df2", "-n", NS, "--ignore-not-found").stdout == ""


def test_delete_by_label_selector(k: Cluster) -> None:
    for name, group in (("dl1", "a"), ("dl2", "b"), ("dl3", "a")):
        k.kubectl("create", "configmap", name, "-n", NS)
        k.kubectl("label", "cm", name, "-n", NS, f"delgroup={group}")
    out = k.kubectl("delete", "cm", "-l", "delgroup=a", "-n", NS).stdout
    assert out.splitlines() == [
        f'configmap "dl1" deleted from {NS} namespace',
        f'configmap "dl3" deleted from {NS} namespace',
    ]
    left = k.kubectl("get", "cm", "-l", "delgroup", "-n", NS, "-o", "name").stdout
    assert left.split() == ["configmap/dl2"]


def test_delete_all_in_a_namespace(k: Cluster) -> None:
    ns = "cmd-delall"
    k.kubectl("create", "namespace", ns)
    for name in ("x1", "x2"):
        k.kubectl("create", "secret", "generic", name, "-n", ns)
    out = k.kubectl("delete", "secrets", "--all", "-n", ns).stdout
    assert out.splitlines() == [
        f'secret "x1" deleted from {ns} namespace',
        f'secret "x2" deleted from {ns} namespace',
    ]
    empty = k.kubectl("get", "secrets", "-n", ns)
    assert (empty.stdout, empty.stderr) == ("", f"No resources found in {ns} namespace.\n")


def test_delete_namespace_leaves_it_terminating(k: Cluster) -> None:
    ns = "cmd-delns"
    k.kubectl("create", "namespace", ns)
    out = k.kubectl("delete", "namespace", ns, "--wait=false").stdout
    assert out == f'namespace "{ns}" deleted\n'
    rows = table(k.kubectl("get", "namespace", ns).stdout)
    assert rows[1][:2] == [ns, "Terminating"]
