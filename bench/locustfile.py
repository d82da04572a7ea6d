"""Locust users that load a running cluster the way its real clients do.

Three kinds of user share one namespace made for the run (`locust-<time>`, deleted at the end):

- `KubectlUser` (most of them): what people and scripts do with kubectl. Discovery, `get` of one
  object and `list` asking for a Table, `get -w` (a short watch with timeoutSeconds), `apply
  --server-side` (an apply patch with force), `label` (a merge patch), `patch` (a strategic
  merge patch) and `delete` of its own ConfigMaps, and `get` of ones it deleted or never made:
  those 404s are intended and count as successes (the summary counts them separately).
- `ControllerUser`: a controller's list-watch (an informer) over the run's ConfigMaps and every
  namespace's Pods: a paged LIST (limit=500), then watches from the list's resourceVersion with
  bookmarks and a short timeoutSeconds, relisting on 410 Gone.
- `KubeletUser`: a kubelet's own traffic for one pod: it creates the pod (unschedulable, so the
  scheduler and any hollow node leave it alone), renews a Lease with PUT every few seconds and
  sends pod status as strategic merge patches on the status subresource.

Credentials come from a kubeconfig (`--kubeconfig`, else $KUBECONFIG, else
~/.kube-py/admin.kubeconfig): the server, its CA and the client certificate and key (inline
`*-data` or file paths) or a bearer token. Run headless with `make loadtest`, or

    locust -f bench/locustfile.py --headless --users 200 --spawn-rate 50 --run-time 60s \\
        --kubeconfig ~/.kube-py/admin.kubeconfig

At the end it prints one line: requests, request rate, p50/p95/p99 over every request but the
watches (whose time is the watch's length), the watch-establishment p99, unexpected failures,
and intended 404s. Locust exits 1 when any request failed.
"""

from __future__ import annotations

import atexit
import base64
import itertools
import json
import os
import random
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
import gevent.ssl
import yaml
from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser, FastResponse, ResponseContextManager
from locust.env import Environment
from locust.runners import MasterRunner

TABLE = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)
DISCOVERY = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
KUBECTL_AGENT = "kubectl/v1.37.1 (linux/amd64) kubernetes/locust"
WATCH_PREFIX = "WATCH "


@dataclass
class Credentials:
    """What the users need from the kubeconfig, with PEM material written to files for ssl."""

    server: str
    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    token: str | None

    def ssl_context(self, cafile: str | None = None) -> ssl.SSLContext:
        """The context geventhttpclient opens each connection with (it calls this factory)."""
        context = gevent.ssl.create_default_context(cafile=self.ca_file or cafile)
        if self.cert_file and self.key_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def default_kubeconfig() -> str:
    first = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    return first or str(Path.home() / ".kube-py" / "admin.kubeconfig")


def load_credentials(path: str, scratch: Path) -> Credentials:
    """The current context's cluster and user; inline `*-data` fields become files in scratch."""
    config = yaml.safe_load(Path(path).read_text())
    base = Path(path).resolve().parent
    context_name = config.get("current-context") or config["contexts"][0]["name"]
    context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in config.get("users", []) if u["name"] == context.get("user"))

    def material(entry: dict[str, Any], key: str) -> str | None:
        if entry.get(f"{key}-data"):
            target = scratch / key
            target.write_bytes(base64.b64decode(entry[f"{key}-data"]))
            return str(target)
        if entry.get(key):
            return str(base / entry[key])
        return None

    return Credentials(
        server=cluster["server"].rstrip("/"),
        ca_file=material(cluster, "certificate-authority"),
        cert_file=material(user, "client-certificate"),
        key_file=material(user, "client-key"),
        token=user.get("token"),
    )


class Run:
    """Run-wide state: credentials, the namespace, and the counters the summary prints."""

    credentials: Credentials
    namespace = ""
    scratch: Path | None = None
    intended_404s = 0


def admin_request(method: str, path: str, body: dict[str, Any] | None = None) -> int:
    """One request outside locust's statistics (setting the run up and tearing it down)."""
    creds = Run.credentials
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        creds.server + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **creds.headers()},
    )
    try:
        with urllib.request.urlopen(request, context=creds.ssl_context(), timeout=30) as answer:
            status: int = answer.status
            return status
    except urllib.error.HTTPError as err:
        return err.code


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument(
        "--kubeconfig",
        default=default_kubeconfig(),
        help="the cluster and TLS client credentials (default $KUBECONFIG, else "
        "~/.kube-py/admin.kubeconfig)",
    )


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        return
    Run.scratch = Path(tempfile.mkdtemp(prefix="locust-kube-"))
    Run.credentials = load_credentials(environment.parsed_options.kubeconfig, Run.scratch)
    environment.host = environment.host or Run.credentials.server
    for user_class in environment.user_classes:
        user_class.host = environment.host
        user_class.ssl_context_factory = Run.credentials.ssl_context
    Run.namespace = f"locust-{int(time.time())}"


@events.test_start.add_listener
def _create_namespace(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        return
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": Run.namespace}}
    status = admin_request("POST", "/api/v1/namespaces", body)
    if status not in (201, 409):
        raise RuntimeError(f"creating namespace {Run.namespace}: HTTP {status}")


@events.test_stop.add_listener
def _delete_namespace(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner) or not Run.namespace:
        return
    admin_request("DELETE", f"/api/v1/namespaces/{Run.namespace}")


@events.quitting.add_listener
def _summary(environment: Environment, **_: Any) -> None:
    """The line `make loadtest` is for: rate, percentiles, failures.

    Printed at exit, after locust's own tables, so it is the last line of the run's output.
    """
    if isinstance(environment.runner, MasterRunner):
        return
    stats = environment.stats
    total = stats.total
    plain = [e for e in stats.entries.values() if not e.name.startswith(WATCH_PREFIX)]
    watches = [e for e in stats.entries.values() if e.name.startswith(WATCH_PREFIX)]
    merged = _merged(plain)
    watch = _merged(watches)
    seconds = max((total.last_request_timestamp or 0) - total.start_time, 1e-9)
    line = (
        f"kube loadtest: {total.num_requests} requests in {seconds:.0f} s "
        f"({total.num_requests / seconds:.0f}/s); requests other than watches: "
        f"p50 {merged.get_response_time_percentile(0.5):.0f} ms, "
        f"p95 {merged.get_response_time_percentile(0.95):.0f} ms, "
        f"p99 {merged.get_response_time_percentile(0.99):.0f} ms; "
        f"watch established p99 {watch.get_response_time_percentile(0.99):.0f} ms "
        f"({watch.num_requests} watches); "
        f"failures {total.num_failures} (intended 404s, counted as successes: {Run.intended_404s})"
    )
    atexit.register(print, line, flush=True)
    if Run.scratch is not None:
        shutil.rmtree(Run.scratch, ignore_errors=True)


def _merged(entries: list[Any]) -> Any:
    """One StatsEntry aggregating several (locust's `extend` keeps the response-time histogram)."""
    from locust.stats import StatsEntry

    merged = StatsEntry(None, "merged", "", use_response_times_cache=False)
    for entry in entries:
        merged.extend(entry)
    return merged


class KubeUser(FastHttpUser):
    """Common to the three kinds: TLS with the kubeconfig's client certificate, JSON bodies."""

    abstract = True
    insecure = False
    agent = "kube-locust"

    def request(
        self,
        method: str,
        path: str,
        name: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        expect_404: bool = False,
    ) -> FastResponse | None:
        """One API call; a 404 counts as a success when `expect_404` says it is intended."""
        headers = {"Accept": accept, "User-Agent": self.agent, **Run.credentials.headers()}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = body if isinstance(body, str) else json.dumps(body)
        with self.client.request(
            method, path, name=name, data=data, headers=headers, catch_response=True
        ) as response:
            assert isinstance(response, ResponseContextManager)
            if expect_404 and response.status_code == 404:
                Run.intended_404s += 1
                response.success()
                return None
            if not 200 <= response.status_code < 300:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
                return None
            response.success()
            return response

    def watch(self, path: str, name: str, resource_version: str, timeout: int) -> str | None:
        """A watch from resource_version until the server ends it after `timeout` seconds.

        Locust records the time to the response headers (the watch being established); the
        events are read to the end. Returns the last resourceVersion seen (bookmarks included),
        or None when the server answered 410 Gone and the caller must list again.
        """
        separator = "&" if "?" in path else "?"
        url = (
            f"{path}{separator}watch=1&allowWatchBookmarks=true&timeoutSeconds={timeout}"
            f"&resourceVersion={resource_version}"
        )
        headers = {"Accept": "application/json", "User-Agent": self.agent}
        headers.update(Run.credentials.headers())
        with self.client.request(
            "GET", url, name=WATCH_PREFIX + name, headers=headers, stream=True, catch_response=True
        ) as response:
            assert isinstance(response, ResponseContextManager)
            if response.status_code == 410:
                response.success()
                return None
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return resource_version
            latest: str | None = resource_version
            buffer = b""
            for chunk in response.iter_content(chunk_size=65536, decode_content=False):
                buffer += chunk if isinstance(chunk, bytes) else chunk.encode()
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        latest = self._event(line, latest, response)
            response.success()
            return latest

    @staticmethod
    def _event(line: bytes, latest: str | None, response: ResponseContextManager) -> str | None:
        event = json.loads(line)
        if event.get("type") == "ERROR":
            code = event.get("object", {}).get("code")
            if code == 410:  # expired: the informer relists
                return None
            response.failure(f"watch ERROR event: {event.get('object')}")
            return latest
        rv = event.get("object", {}).get("metadata", {}).get("resourceVersion")
        return rv or latest


class KubectlUser(KubeUser):
    """A person or script running kubectl against the run's namespace."""

    weight = 8
    wait_time = between(0.5, 2.0)
    agent = KUBECTL_AGENT
    counter = itertools.count()

    def on_start(self) -> None:
        self.me = f"u{next(KubectlUser.counter)}"
        self.live: set[str] = set()
        self.gone: set[str] = set()
        self.serial = itertools.count()
        self.base = f"/api/v1/namespaces/{Run.namespace}/configmaps"
        self.get_missing()  # a script's "does it exist yet?" before its first apply
        self.apply()

    def mine(self) -> str | None:
        return random.choice(sorted(self.live)) if self.live else None

    @task(1)
    def discovery(self) -> None:
        """Every kubectl command that maps resources starts here (cached on disk for a while)."""
        self.request("GET", "/api", "/api", accept=DISCOVERY)
        self.request("GET", "/apis", "/apis", accept=DISCOVERY)

    @task(6)
    def get(self) -> None:
        """`kubectl get cm NAME` of a ConfigMap this user applied."""
        name = self.mine()
        if name is not None:
            self.request("GET", f"{self.base}/{name}", "GET configmap", accept=TABLE)

    @task(1)
    def get_missing(self) -> None:
        """`kubectl get cm NAME` of one this user deleted (or never made): an intended 404."""
        name = random.choice(sorted(self.gone)) if self.gone else f"{self.me}-never"
        self.request(
            "GET", f"{self.base}/{name}", "GET configmap (404)", accept=TABLE, expect_404=True
        )

    @task(3)
    def list(self) -> None:
        """`kubectl get cm` in the namespace: a Table, in chunks of 500."""
        self.request("GET", f"{self.base}?limit=500", "LIST configmaps", accept=TABLE)

    @task(1)
    def list_pods_by_label(self) -> None:
        """`kubectl get pods -A -l app=locust`: a cluster-wide list filtered by label."""
        path = "/api/v1/pods?labelSelector=app%3Dlocust&limit=500"
        self.request("GET", path, "LIST pods -A -l", accept=TABLE)

    @task(1)
    def get_nodes(self) -> None:
        """`kubectl get nodes`: the first chunk of 500 as a Table."""
        self.request("GET", "/api/v1/nodes?limit=500", "LIST nodes (first 500)", accept=TABLE)

    @task(3)
    def apply(self) -> None:
        """`kubectl apply --server-side --force-conflicts` of a new or existing ConfigMap."""
        if len(self.live) < 5 or random.random() < 0.3:
            name = f"{self.me}-{next(self.serial)}"
        else:
            name = self.mine() or f"{self.me}-{next(self.serial)}"
        manifest = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"app": "locust", "user": self.me}},
            "data": {"generation": str(random.randrange(1_000_000)), "payload": "x" * 512},
        }
        query = "fieldManager=kubectl&force=true&fieldValidation=Strict"
        if self.request(
            "PATCH",
            f"{self.base}/{name}?{query}",
            "APPLY configmap",
            body=yaml.safe_dump(manifest),
            content_type="application/apply-patch+yaml",
        ):
            self.live.add(name)
            self.gone.discard(name)

    @task(2)
    def label(self) -> None:
        """`kubectl label cm NAME tier=...  --overwrite`: a JSON merge patch."""
        name = self.mine()
        if name is not None:
            patch = {"metadata": {"labels": {"tier": random.choice(["a", "b", "c"])}}}
            self.request(
                "PATCH",
                f"{self.base}/{name}?fieldManager=kubectl-label",
                "PATCH configmap (merge)",
                body=patch,
                content_type="application/merge-patch+json",
            )

    @task(2)
    def patch(self) -> None:
        """`kubectl patch cm NAME -p ...`: a strategic merge patch."""
        name = self.mine()
        if name is not None:
            patch = {"data": {"patched": str(time.time())}}
            self.request(
                "PATCH",
                f"{self.base}/{name}?fieldManager=kubectl-patch",
                "PATCH configmap (strategic)",
                body=patch,
                content_type="application/strategic-merge-patch+json",
            )

    @task(1)
    def delete(self) -> None:
        """`kubectl delete cm NAME`, keeping a few for the reads."""
        if len(self.live) > 3:
            name = random.choice(sorted(self.live))
            body = {"propagationPolicy": "Background"}
            if self.request("DELETE", f"{self.base}/{name}", "DELETE configmap", body=body):
                self.live.discard(name)
                self.gone.add(name)

    @task(1)
    def get_watch(self) -> None:
        """`kubectl get cm -w` for a few seconds: a list, then a watch from its version."""
        listed = self.request("GET", f"{self.base}?limit=500", "LIST configmaps", accept=TABLE)
        if listed is not None:
            rv = json.loads(listed.content)["metadata"]["resourceVersion"]
            self.watch(self.base, "configmaps", rv, timeout=random.randint(2, 5))


class ControllerUser(KubeUser):
    """An informer's list-watch, as every controller runs one per resource."""

    weight = 1
    wait_time = between(0.05, 0.2)
    agent = "kube-controller-manager/v1.37.1 (linux/amd64) kubernetes/locust"

    def on_start(self) -> None:
        self.resources = {
            "configmaps": f"/api/v1/namespaces/{Run.namespace}/configmaps",
            "pods": "/api/v1/pods",
        }
        # Informers start by listing; their watches then take turns.
        self.versions = {resource: self.relist(resource) for resource in self.resources}

    def relist(self, resource: str) -> str | None:
        """A paged LIST (limit=500, following continue) as the reflector does; its version."""
        path = self.resources[resource]
        token = ""
        while True:
            suffix = f"&continue={token}" if token else ""
            page = self.request("GET", f"{path}?limit=500{suffix}", f"LIST {resource} (informer)")
            if page is None:
                return None
            metadata = json.loads(page.content)["metadata"]
            token = metadata.get("continue", "")
            if not token:
                rv: str = metadata["resourceVersion"]
                return rv

    @task
    def list_watch(self) -> None:
        resource = random.choice(sorted(self.resources))
        if self.versions[resource] is None:
            self.versions[resource] = self.relist(resource)
        version = self.versions[resource]
        if version is not None:
            path = self.resources[resource]
            self.versions[resource] = self.watch(path, resource, version, random.randint(3, 8))


class KubeletUser(KubeUser):
    """A kubelet's traffic for one pod: its Lease and the pod's status."""

    weight = 2
    wait_time = between(1.0, 3.0)
    agent = "kubelet/v1.37.1 (linux/amd64) kubernetes/locust"
    counter = itertools.count()

    def on_start(self) -> None:
        self.node = f"locust-node-{next(KubeletUser.counter)}"
        self.pods = f"/api/v1/namespaces/{Run.namespace}/pods"
        self.pod = f"{self.node}-pod"
        self.leases = f"/apis/coordination.k8s.io/v1/namespaces/{Run.namespace}/leases"
        self.lease: dict[str, Any] | None = None
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": self.pod, "labels": {"app": "locust"}},
            "spec": {
                # Matches no node: the scheduler leaves it Pending, no hollow node runs it.
                "nodeSelector": {"locust.kube.io/none": "true"},
                "containers": [{"name": "c", "image": "localhost/busybox:latest"}],
            },
        }
        self.request("POST", self.pods, "CREATE pod", body=pod)
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.node},
            "spec": {"holderIdentity": self.node, "leaseDurationSeconds": 40},
        }
        created = self.request("POST", self.leases, "CREATE lease", body=lease)
        self.lease = json.loads(created.content) if created is not None else None

    def on_stop(self) -> None:
        # Bounded: locust waits for on_stop before test_stop (and the namespace's deletion).
        with gevent.Timeout(10, False):
            self.request("DELETE", f"{self.pods}/{self.pod}", "DELETE pod", expect_404=True)

    @task(1)
    def renew_lease(self) -> None:
        """The heartbeat: PUT of the Lease with a new renewTime (optimistic concurrency)."""
        if self.lease is None:
            return
        self.lease["spec"]["renewTime"] = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        renewed = self.request("PUT", f"{self.leases}/{self.node}", "UPDATE lease", body=self.lease)
        if renewed is not None:
            self.lease = json.loads(renewed.content)

    @task(2)
    def pod_status(self) -> None:
        """The status manager's patch: conditions merged by type, as the kubelet sends them."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        ready = random.choice(["True", "False"])
        patch = {
            "status": {
                "$setElementOrder/conditions": [{"type": "Ready"}],
                "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": now}],
            },
        }
        self.request(
            "PATCH",
            f"{self.pods}/{self.pod}/status",
            "PATCH pod status",
            body=patch,
            content_type="application/strategic-merge-patch+json",
        )
