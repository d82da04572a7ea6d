"""Pod volumes on the node: set up before the containers start, torn down with the pod.

As upstream's volume plugins, each volume of a pod gets a directory under the kubelet's root,
`<root>/pods/<uid>/volumes/<plugin>/<name>` (plugin `kubernetes.io~empty-dir`,
`kubernetes.io~configmap`, `kubernetes.io~secret`, `kubernetes.io~projected`,
`kubernetes.io~downward-api`), which the runtime bind-mounts into each container that names it
(CRI `ContainerConfig.mounts`; `subPath` is resolved here, on the kubelet's side). hostPath
volumes are the host's path itself after upstream's type check (Directory, DirectoryOrCreate,
File, FileOrCreate, Socket, CharDevice, BlockDevice).

API-data volumes (configMap, secret, projected, downwardAPI) are written by the atomic writer
(`write_atomic`): the files live in a timestamped directory `..<time>`, reached through the
symlink `..data`, and each top-level name the user sees is a symlink into `..data`; an update
writes a new timestamped directory and renames a fresh symlink over `..data`, so a reader sees
the old set or the new one, never a mix. They are mounted read-only, as upstream. Secrets,
projected and downwardAPI volumes and `emptyDir.medium: Memory` live on tmpfs (when the kubelet
is root), so secret material never reaches the disk.

A volume whose ConfigMap or Secret is missing fails with upstream's words (a `FailedMount`
Warning event `MountVolume.SetUp failed for volume "x" : configmap "y" not found`), and the
pod stays ContainerCreating until it appears. Once a volume is set up, every sync refreshes its
content (a changed ConfigMap shows up in the container), and a later failure only warns.
With the pod's `securityContext.fsGroup`, these volumes (not hostPath) get that group and its
group bits (kube.kubelet.ownership): an emptyDir when first set up (`fsGroupChangePolicy`
honoured), API data read-only whenever it is written.
Service-account tokens come from the TokenRequest API (`serviceaccounts/<sa>/token`, bound to
the pod) and are re-requested when 80% of their lifetime has passed, as upstream's token
manager does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import datetime as dt
import logging
import math
import os
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.api import errors
from kube.api.quantity import QuantityError, parse
from kube.api.resources import resource
from kube.client.rest import RESTClient
from kube.kubelet.objectcache import ObjectCache
from kube.kubelet.ownership import RO_MASK, change_policy, fs_group, set_volume_ownership

log = logging.getLogger("kube.kubelet.volumes")

CONFIGMAPS = resource("configmaps")
SECRETS = resource("secrets")
SERVICEACCOUNTS = resource("serviceaccounts")

EMPTY_DIR = "kubernetes.io~empty-dir"
CONFIGMAP = "kubernetes.io~configmap"
SECRET = "kubernetes.io~secret"
PROJECTED = "kubernetes.io~projected"
DOWNWARD_API = "kubernetes.io~downward-api"
PLUGINS = (EMPTY_DIR, CONFIGMAP, SECRET, PROJECTED, DOWNWARD_API)
DEFAULT_MODE = 0o644  # configMap, secret, projected and downwardAPI defaultMode
DEFAULT_TOKEN_EXPIRATION = 3600
DATA_DIR = "..data"
DATA_DIR_TMP = "..data_tmp"
TOKEN_REFRESH = 0.8  # re-request a token past this fraction of its lifetime

Files = dict[str, tuple[bytes, int]]
Recorder = Callable[[dict[str, Any], str, str, str], None]


# The parts of a pod's volume set-up (VolumeManager.setup).
ALL, WITHOUT_TOKENS, TOKENS = "all", "without-tokens", "tokens"


def _has_token(volume: dict[str, Any]) -> bool:
    """Whether the volume is projected with a service-account token among its sources."""
    projected = volume.get("projected")
    if not isinstance(projected, dict):
        return False
    return any("serviceAccountToken" in (item or {}) for item in projected.get("sources") or [])


class MountError(Exception):
    """A volume could not be set up; `str()` is upstream's event message."""

    def __init__(self, volume: str, reason: str) -> None:
        super().__init__(f'MountVolume.SetUp failed for volume "{volume}" : {reason}')
        self.volume = volume
        self.reason = reason


# -- the atomic writer ---------------------------------------------------------------------


def check_path(path: str) -> str:
    """A payload path as upstream's validatePath: relative, no `..` element, not `..`-led."""
    if not path:
        raise ValueError("invalid path: must not be empty")
    if path.startswith("/"):
        raise ValueError(f"invalid path: must be relative path: {path}")
    parts = PurePosixPath(path).parts
    if ".." in parts:
        raise ValueError(f"invalid path: must not contain '..': {path}")
    if path.startswith(".."):
        raise ValueError(f"invalid path: must not start with '..': {path}")
    return path


def _current(target: Path) -> Files | None:
    """What `..data` holds now (path -> content, mode), or None when there is no `..data`."""
    data = target / DATA_DIR
    if not data.is_symlink():
        return None
    found: Files = {}
    base = data.resolve()
    for path in base.rglob("*"):
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(base))] = (
                path.read_bytes(),
                stat.S_IMODE(path.stat().st_mode),
            )
    return found


def write_atomic(target: Path, files: Files) -> bool:
    """Makes `target` show exactly `files` (upstream's AtomicWriter.Write); True if it changed.

    Files go into a new `..<timestamp>` directory; `..data_tmp` is made to point at it and
    renamed over `..data` (one atomic rename); each top-level name is a symlink into `..data`;
    then the old timestamped directory and names no longer in the payload are removed.
    """
    for path in files:
        check_path(path)
    target.mkdir(parents=True, exist_ok=True)
    if _current(target) == files:
        return False
    data = target / DATA_DIR
    old = os.readlink(data) if data.is_symlink() else None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y_%m_%d_%H_%M_%S.") + f"{time.time_ns() % 10**9:09d}"
    ts_name = f"..{stamp}"
    ts_dir = target / ts_name
    ts_dir.mkdir(mode=0o755)
    for path, (content, mode) in files.items():
        file = ts_dir / path
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        file.write_bytes(content)
        os.chmod(file, mode)
    tmp = target / DATA_DIR_TMP
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(ts_name, tmp)
    os.rename(tmp, data)
    top = {PurePosixPath(p).parts[0] for p in files}
    for name in top:
        link = target / name
        if not link.is_symlink():
            if link.exists():
                shutil.rmtree(link) if link.is_dir() else link.unlink()
            os.symlink(f"{DATA_DIR}/{name}", link)
    for entry in target.iterdir():
        if entry.name.startswith(".."):
            continue
        if entry.name not in top:
            if entry.is_symlink() or entry.is_file():
                entry.unlink()
            elif entry.is_dir():
                shutil.rmtree(entry)
    if old and old != ts_name and (target / old).is_dir():
        shutil.rmtree(target / old)
    return True


# -- hostPath --------------------------------------------------------------------------------


def check_host_path(path: str, kind: str) -> None:
    """Upstream's hostPath type check (creating for the *OrCreate types); ValueError if not."""
    target = Path(path)
    exists = target.exists()
    if kind == "":
        return
    if kind == "DirectoryOrCreate" and not exists:
        target.mkdir(mode=0o755, parents=True)
        return
    if kind in ("Directory", "DirectoryOrCreate"):
        if not target.is_dir():
            raise ValueError(f"hostPath type check failed: {path} is not a directory")
        return
    if kind == "FileOrCreate" and not exists:
        try:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
        except OSError as err:
            raise ValueError(f"open {path}: {err.strerror}") from err
        return
    if kind in ("File", "FileOrCreate"):
        if not target.is_file():
            raise ValueError(f"hostPath type check failed: {path} is not a file")
        return
    checks: dict[str, tuple[Callable[[int], bool], str]] = {
        "Socket": (stat.S_ISSOCK, "a socket file"),
        "CharDevice": (stat.S_ISCHR, "a character device"),
        "BlockDevice": (stat.S_ISBLK, "a block device"),
    }
    if kind not in checks:
        raise ValueError(f"{kind} is an invalid volume type")
    test, words = checks[kind]
    if not exists or not test(target.stat().st_mode):
        raise ValueError(f"hostPath type check failed: {path} is not {words}")


# -- the downward API --------------------------------------------------------------------------


def _format_map(values: dict[str, Any]) -> str:
    """Labels/annotations as upstream's fieldpath.FormatMap: sorted `key="value"` lines."""
    return "\n".join(f"{k}={_go_quote(str(values[k]))}" for k in sorted(values))


def _go_quote(text: str) -> str:
    """Go's %q for the common cases (backslash, quote, control characters)."""
    out = ['"']
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def field_ref(pod: dict[str, Any], path: str) -> str:
    """A downwardAPI volume's fieldRef: metadata name/namespace/uid/labels/annotations."""
    meta = pod.get("metadata") or {}
    if path in ("metadata.labels", "metadata.annotations"):
        return _format_map(meta.get(path.split(".")[1]) or {})
    for kind in ("labels", "annotations"):
        prefix = f"metadata.{kind}['"
        if path.startswith(prefix) and path.endswith("']"):
            return str((meta.get(kind) or {}).get(path[len(prefix) : -2], ""))
    if path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        return str(meta.get(path.split(".")[1], ""))
    if path == "spec.nodeName":
        return str((pod.get("spec") or {}).get("nodeName", ""))
    if path == "spec.serviceAccountName":
        return str((pod.get("spec") or {}).get("serviceAccountName", ""))
    raise ValueError(f"unsupported fieldPath: {path}")


def _node_allocatable() -> dict[str, Decimal]:
    memory = Decimal(0)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = Decimal(int(line.split()[1]) * 1024)
    except OSError:
        pass
    return {"cpu": Decimal(os.cpu_count() or 1), "memory": memory, "ephemeral-storage": Decimal(0)}


def resource_field_ref(pod: dict[str, Any], ref: dict[str, Any], default_container: str) -> str:
    """A resourceFieldRef value: the limit (node allocatable when unset) or request, divided by
    the divisor and rounded up, as upstream's ExtractContainerResourceValue."""
    name = ref.get("containerName") or default_container
    field = str(ref.get("resource", ""))
    containers = (pod.get("spec") or {}).get("containers") or []
    container = next((c for c in containers if c.get("name") == name), None)
    if container is None:
        raise ValueError(f"container {name!r} not found in the pod")
    kind, _, res = field.partition(".")
    if kind not in ("limits", "requests") or res not in ("cpu", "memory", "ephemeral-storage"):
        raise ValueError(f"unsupported container resource: {field}")
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(res)
    if raw is None and kind == "requests":
        raw = (resources.get("limits") or {}).get(res)
    try:
        value = parse(str(raw)).value if raw is not None else None
        divisor = parse(str(ref.get("divisor") or "1")).value
    except QuantityError as err:
        raise ValueError(str(err)) from err
    if value is None:
        value = _node_allocatable()[res] if kind == "limits" else Decimal(0)
    if divisor == 0:
        raise ValueError("divisor must not be zero")
    if res == "cpu":
        # upstream: ceil(milli(value) / milli(divisor))
        milli = math.ceil(value * 1000)
        return str(math.ceil(Decimal(milli) / (divisor * 1000)))
    return str(math.ceil(value / divisor))


# -- the manager ---------------------------------------------------------------------------------


@dataclass
class Token:
    token: str
    fetched: float
    expires: float


def _key_items(
    data: dict[str, bytes],
    items: list[dict[str, Any]] | None,
    default_mode: int,
    optional: bool,
    missing: Callable[[str], str],
) -> Files:
    """The files of a configMap/secret source: every key, or the named `items` (key -> path)."""
    if not items:
        return {check_path(key): (value, default_mode) for key, value in data.items()}
    files: Files = {}
    for item in items:
        key = str(item.get("key", ""))
        if key not in data:
            if optional:
                continue
            raise ValueError(missing(key))
        mode = item.get("mode")
        files[check_path(str(item.get("path") or key))] = (
            data[key],
            int(mode) if mode is not None else default_mode,
        )
    return files


def _mode(source: dict[str, Any]) -> int:
    mode = source.get("defaultMode")
    return int(mode) if mode is not None else DEFAULT_MODE


class VolumeManager:
    """Sets up, refreshes and tears down the volumes of the pods of one kubelet."""

    def __init__(
        self,
        client: RESTClient | None,
        root_dir: Path,
        *,
        recorder: Recorder | None = None,
        tmpfs: bool | None = None,
        clock: Callable[[], float] = time.time,
        objects: ObjectCache | None = None,
    ) -> None:
        self.client = client
        self.root = Path(root_dir) / "pods"
        self.recorder = recorder
        self.tmpfs = os.geteuid() == 0 if tmpfs is None else tmpfs
        self.clock = clock
        # ConfigMaps and Secrets from watches (None: a GET each time they are needed).
        self.objects = objects
        self.paths: dict[str, dict[str, str]] = {}  # pod uid -> volume name -> host path
        self.tokens: dict[tuple[str, str, str, int], Token] = {}
        # What this manager last wrote into each API-data volume: a sync whose files are the
        # same writes nothing and reads nothing back (upstream sets a volume up once, then
        # only when its source changes).
        self.written: dict[Path, Files] = {}

    def volume_dir(self, uid: str, plugin: str, name: str) -> Path:
        return self.root / uid / "volumes" / plugin / name

    # -- setting up --------------------------------------------------------------------------

    async def setup(self, pod: dict[str, Any], part: str = ALL) -> dict[str, str]:
        """Every volume of `pod`, made or refreshed; MountError for the first that cannot be.

        A volume that was set up before keeps its old content when a refresh fails (a Warning
        event says why); only a volume never set up blocks the pod.

        `part` splits the set-up in two, so the pod's TokenRequest can go while its sandbox is
        made: WITHOUT_TOKENS sets up every volume but those carrying a service-account token,
        whose other sources (ConfigMaps, Secrets) are read and must be there, and TOKENS then
        sets up just those. A missing ConfigMap or Secret thus still fails the first part (a
        FailedMount event, and no sandbox, as upstream); only a failed TokenRequest is found
        once the sandbox is being made.
        """
        uid = str(pod["metadata"]["uid"])
        paths = self.paths.setdefault(uid, {})
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = str(volume.get("name", ""))
            tokens = _has_token(volume)
            if (part == WITHOUT_TOKENS and tokens) or (part == TOKENS and not tokens):
                if part == WITHOUT_TOKENS:
                    await self._check_sources(pod, volume, name, paths)
                continue
            try:
                paths[name] = await self._setup_one(pod, volume)
            except MountError as err:
                self._event(pod, "Warning", "FailedMount", str(err))
                if name not in paths:
                    raise
                log.warning("refresh of volume %s of pod %s failed: %s", name, uid, err)
        return paths

    async def _check_sources(
        self, pod: dict[str, Any], volume: dict[str, Any], name: str, paths: dict[str, str]
    ) -> None:
        """The ConfigMaps and Secrets of a projected volume with a token, read as its set-up
        reads them (nothing written): MountError, with the FailedMount event, for one that is
        missing, unless the volume was set up before."""
        try:
            await self._projected(pod, volume.get("projected") or {}, tokens=False)
        except ValueError as err:
            failed = MountError(name, str(err))
            self._event(pod, "Warning", "FailedMount", str(failed))
            if name not in paths:
                raise failed from err

    def _event(self, pod: dict[str, Any], kind: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            self.recorder(pod, kind, reason, message)

    async def _setup_one(self, pod: dict[str, Any], volume: dict[str, Any]) -> str:
        name = str(volume.get("name", ""))
        uid = str(pod["metadata"]["uid"])
        try:
            if (source := volume.get("hostPath")) is not None:
                path = str(source.get("path", ""))
                await asyncio.to_thread(check_host_path, path, str(source.get("type") or ""))
                return path
            group = fs_group(pod)
            if (source := volume.get("emptyDir")) is not None:
                target = self.volume_dir(uid, EMPTY_DIR, name)
                memory = source.get("medium") == "Memory"
                size = source.get("sizeLimit") if memory else None
                fresh = name not in self.paths.get(uid, {})
                await asyncio.to_thread(self._empty_dir, target, memory, size, group, fresh, pod)
                return str(target)
            if (source := volume.get("configMap")) is not None:
                files = await self._configmap(pod, source, _mode(source))
                target = self.volume_dir(uid, CONFIGMAP, name)
                return await asyncio.to_thread(self._write, target, files, tmpfs=False, group=group)
            if (source := volume.get("secret")) is not None:
                files = await self._secret(pod, source, _mode(source))
                target = self.volume_dir(uid, SECRET, name)
                return await asyncio.to_thread(self._write, target, files, tmpfs=True, group=group)
            if (source := volume.get("downwardAPI")) is not None:
                files = self._downward(pod, source, _mode(source))
                target = self.volume_dir(uid, DOWNWARD_API, name)
                return await asyncio.to_thread(self._write, target, files, tmpfs=True, group=group)
            if (source := volume.get("projected")) is not None:
                files = await self._projected(pod, source)
                target = self.volume_dir(uid, PROJECTED, name)
                return await asyncio.to_thread(self._write, target, files, tmpfs=True, group=group)
        except ValueError as err:
            raise MountError(name, str(err)) from err
        except OSError as err:
            detail = f"{err.strerror or err}: {err.filename or ''}".rstrip(": ")
            raise MountError(name, detail) from err
        raise MountError(name, "unsupported volume type")

    def _make_dir(self, target: Path, *, tmpfs: bool, size: Any = None) -> None:
        target.mkdir(parents=True, exist_ok=True)
        if not (tmpfs and self.tmpfs) or os.path.ismount(target):
            return
        options = "mode=0755"
        if size is not None:
            try:
                options += f",size={int(parse(str(size)).value)}"
            except QuantityError as err:
                raise ValueError(f"invalid sizeLimit: {err}") from err
        # mount(2) itself: a `mount` process per pod was a fork of the (large) kubelet.
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.mount(b"tmpfs", os.fsencode(target), b"tmpfs", 0, options.encode()) != 0:
            errno = ctypes.get_errno()
            raise ValueError(f"mount tmpfs on {target}: {os.strerror(errno)}")

    def _empty_dir(
        self,
        target: Path,
        memory: bool,
        size: Any,
        group: int | None,
        fresh: bool,
        pod: dict[str, Any],
    ) -> None:
        """An emptyDir: world-writable (0777, leaving setgid alone, as upstream compares only
        the permission bits), and given the pod's fsGroup when first set up by this kubelet."""
        self._make_dir(target, tmpfs=memory, size=size)
        if stat.S_IMODE(target.stat().st_mode) & 0o777 != 0o777:
            os.chmod(target, stat.S_IMODE(target.stat().st_mode) | 0o777)
        if fresh:
            set_volume_ownership(target, group, readonly=False, policy=change_policy(pod))

    def _write(self, target: Path, files: Files, *, tmpfs: bool, group: int | None = None) -> str:
        """An API-data volume's files through the atomic writer; read-only for the pod's
        fsGroup whenever they changed (upstream applies it on every SetUp, with no policy).
        With an fsGroup the files are written group-readable already, so that the next
        refresh compares equal to what is on disk."""
        if group is not None:
            files = {path: (data, mode | RO_MASK) for path, (data, mode) in files.items()}
        if self.written.get(target) == files:
            return str(target)
        self._make_dir(target, tmpfs=tmpfs)
        if write_atomic(target, files):
            set_volume_ownership(target, group, readonly=True)
        self.written[target] = files
        return str(target)

    async def _get(self, kind: Any, name: str, namespace: str, owner: str) -> dict[str, Any] | None:
        """The object (from its watch when there is an object cache), or None when the API
        server says 404."""
        try:
            if self.objects is not None:
                return await self.objects.get(kind, name, namespace, owner)
            if self.client is None:
                return None
            return await self.client.get(kind, name, namespace)
        except errors.APIError as err:
            if err.code == 404:
                return None
            raise ValueError(f"get {kind.name} {name!r}: {err}") from err

    async def _configmap(self, pod: dict[str, Any], source: dict[str, Any], mode: int) -> Files:
        name, optional = str(source.get("name", "")), bool(source.get("optional"))
        namespace = pod["metadata"].get("namespace", "default")
        obj = await self._get(CONFIGMAPS, name, namespace, str(pod["metadata"]["uid"]))
        if obj is None:
            if optional:
                return {}
            raise ValueError(f'configmap "{name}" not found')
        data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
        for key, value in (obj.get("binaryData") or {}).items():
            data[key] = base64.b64decode(value)
        return _key_items(
            data,
            source.get("items"),
            mode,
            optional,
            lambda key: f"configmap references non-existent config key: {key}",
        )

    async def _secret(self, pod: dict[str, Any], source: dict[str, Any], mode: int) -> Files:
        name = str(source.get("secretName") or source.get("name") or "")
        optional = bool(source.get("optional"))
        namespace = pod["metadata"].get("namespace", "default")
        obj = await self._get(SECRETS, name, namespace, str(pod["metadata"]["uid"]))
        if obj is None:
            if optional:
                return {}
            raise ValueError(f'secret "{name}" not found')
        data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        return _key_items(
            data,
            source.get("items"),
            mode,
            optional,
            lambda key: f"references non-existent secret key: {key}",
        )

    def _downward(self, pod: dict[str, Any], source: dict[str, Any], mode: int) -> Files:
        files: Files = {}
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        for item in source.get("items") or []:
            if (ref := item.get("fieldRef")) is not None:
                value = field_ref(pod, str(ref.get("fieldPath", "")))
            elif (ref := item.get("resourceFieldRef")) is not None:
                value = resource_field_ref(pod, ref, str(containers[0].get("name", "")))
            else:
                continue
            item_mode = item.get("mode")
            files[check_path(str(item.get("path", "")))] = (
                value.encode(),
                int(item_mode) if item_mode is not None else mode,
            )
        return files

    async def _projected(
        self, pod: dict[str, Any], source: dict[str, Any], *, tokens: bool = True
    ) -> Files:
        """The files of a projected volume (without `tokens`, its token sources left out)."""
        mode = _mode(source)
        files: Files = {}
        for item in source.get("sources") or []:
            if (sub := item.get("configMap")) is not None:
                files.update(await self._configmap(pod, sub, mode))
            elif (sub := item.get("secret")) is not None:
                files.update(await self._secret(pod, sub, mode))
            elif (sub := item.get("downwardAPI")) is not None:
                files.update(self._downward(pod, sub, mode))
            elif (sub := item.get("serviceAccountToken")) is not None and tokens:
                token = await self.token(pod, sub)
                files[check_path(str(sub.get("path", "")))] = (token.encode(), mode)
        return files

    async def token(self, pod: dict[str, Any], source: dict[str, Any]) -> str:
        """A token for the pod's service account (TokenRequest, bound to the pod), cached
        until 80% of its lifetime has passed."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        account = str(spec.get("serviceAccountName") or "default")
        audience = str(source.get("audience") or "")
        seconds = int(source.get("expirationSeconds") or DEFAULT_TOKEN_EXPIRATION)
        key = (str(meta["uid"]), account, audience, seconds)
        now = self.clock()
        cached = self.tokens.get(key)
        if cached is not None and now < cached.fetched + TOKEN_REFRESH * (
            cached.expires - cached.fetched
        ):
            return cached.token
        if self.client is None:
            raise ValueError("failed to fetch token: no API client")
        request: dict[str, Any] = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": seconds,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": meta.get("name", ""),
                    "uid": meta["uid"],
                },
            },
        }
        if audience:
            request["spec"]["audiences"] = [audience]
        try:
            answer = await self.client.create(
                SERVICEACCOUNTS,
                request,
                meta.get("namespace", "default"),
                subresource="token",
                name=account,
            )
        except errors.APIError as err:
            raise ValueError(f"failed to fetch token: {err}") from err
        status = answer.get("status") or {}
        token = str(status.get("token", ""))
        expires = now + seconds
        if stamp := status.get("expirationTimestamp"):
            with contextlib.suppress(ValueError):
                expires = dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
        self.tokens[key] = Token(token, now, expires)
        return token

    # -- mounts --------------------------------------------------------------------------------

    def mounts(
        self, pod: dict[str, Any], container: dict[str, Any], env: dict[str, str] | None = None
    ) -> list[Any]:
        """The CRI mounts of `container`'s volumeMounts (subPath joined here, made if missing;
        a subPathExpr expanded from `env`, the container's resolved environment).

        API-data volumes are read-only whatever the volumeMount says, as upstream.
        """
        uid = str(pod["metadata"]["uid"])
        paths = self.paths.get(uid, {})
        kinds = {str(v.get("name", "")): v for v in (pod.get("spec") or {}).get("volumes") or []}
        if env is None:
            env = {
                str(e.get("name")): str(e.get("value"))
                for e in container.get("env") or []
                if "value" in e
            }
        out = []
        for mount in container.get("volumeMounts") or []:
            name = str(mount.get("name", ""))
            host = paths.get(name)
            if host is None:
                continue
            sub = str(mount.get("subPath") or "")
            if not sub and mount.get("subPathExpr"):
                sub = _expand(str(mount["subPathExpr"]), env)
            if sub:
                try:
                    check_path(sub)
                except ValueError as err:
                    log.warning("volumeMount %s of %s: %s", name, container.get("name"), err)
                    continue
                joined = Path(host) / sub
                if not joined.exists() and not joined.is_symlink():
                    joined.mkdir(parents=True, mode=0o755)
                host = str(joined)
            volume = kinds.get(name) or {}
            api_data = any(k in volume for k in ("configMap", "secret", "projected", "downwardAPI"))
            out.append(
                pb.Mount(
                    container_path=str(mount.get("mountPath", "")),
                    host_path=host,
                    readonly=bool(mount.get("readOnly")) or api_data,
                )
            )
        return out

    # -- tearing down --------------------------------------------------------------------------

    async def teardown(self, uid: str) -> None:
        """Unmounts the pod's tmpfs volumes and removes `<root>/pods/<uid>`."""
        self.paths.pop(uid, None)
        for key in [k for k in self.tokens if k[0] == uid]:
            del self.tokens[key]
        if self.objects is not None:
            await self.objects.release(uid)
        if uid:
            pod_dir = self.root / uid
            for target in [t for t in self.written if pod_dir in t.parents]:
                del self.written[target]
            await asyncio.to_thread(self._remove, self.root / uid)

    async def cleanup_orphans(self, known: set[str]) -> None:
        """Tears down the pod dirs of pods this kubelet no longer has (upstream's
        cleanupOrphanedPodDirs): pods deleted while the kubelet was down leave them behind."""
        if not self.root.is_dir():
            return
        for pod_dir in await asyncio.to_thread(lambda: sorted(self.root.iterdir())):
            if pod_dir.name not in known and pod_dir.name not in self.paths:
                log.info("removing the volumes of pod %s, which is gone", pod_dir.name)
                await self.teardown(pod_dir.name)

    @staticmethod
    def _remove(pod_dir: Path) -> None:
        if not pod_dir.is_dir():
            return
        volumes = pod_dir / "volumes"
        for plugin in PLUGINS:
            for target in sorted((volumes / plugin).glob("*")):
                if os.path.ismount(target):
                    libc = ctypes.CDLL(None, use_errno=True)  # umount(2), no process
                    if libc.umount(os.fsencode(target)) != 0:
                        errno = ctypes.get_errno()
                        log.warning("umount %s: %s", target, os.strerror(errno))
                        return  # never delete through a mount we could not undo
        shutil.rmtree(pod_dir, ignore_errors=True)


def _expand(text: str, env: dict[str, str]) -> str:
    """$(VAR) references of a subPathExpr, from the container's plain env values."""
    for name, value in env.items():
        text = text.replace(f"$({name})", value)
    return text
