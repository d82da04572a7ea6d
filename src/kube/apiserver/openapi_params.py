"""The query and path parameters of API operations, worded as upstream documents them.

Each operation of a resource takes a fixed set of parameters (a list takes the list options,
a patch the patch options, ...). The sets and texts are upstream's (k8s.io/apimachinery's
option types as kube-apiserver publishes them), so `kubectl explain`, client generators and
kubectl's own feature probes (`fieldValidation` on PATCH) read them as they read upstream's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Param:
    """One parameter: name, where it goes (`query` or `path`), its JSON type and its text."""

    name: str
    location: str
    type: str
    description: str

    @property
    def required(self) -> bool:
        return self.location == "path"


def _q(name: str, type_: str, description: str) -> Param:
    return Param(name, "query", type_, description)


PRETTY = _q("pretty", "string", "If 'true', then the output is pretty printed.")
NAMESPACE = Param(
    "namespace", "path", "string", "object name and auth scope, such as for teams and projects"
)


def name_param(kind: str) -> Param:
    return Param("name", "path", "string", f"name of the {kind}")


ALLOW_WATCH_BOOKMARKS = _q(
    "allowWatchBookmarks",
    "boolean",
    'allowWatchBookmarks requests watch events with type "BOOKMARK". Servers that do not '
    "implement bookmarks may ignore this flag and bookmarks are sent at the server's "
    "discretion. Clients should not assume bookmarks are returned at any specific interval, "
    "nor may they assume the server will send any BOOKMARK event during a session. If this is "
    "not a watch, this field is ignored.",
)
CONTINUE = _q(
    "continue",
    "string",
    "The continue option should be set when retrieving more results from the server. Since "
    "this value is server defined, clients may only use the continue value from a previous "
    "query result with identical query parameters (except for the value of continue) and the "
    "server may reject a continue value it does not recognize. If the specified continue value "
    "is no longer valid whether due to expiration (generally five to fifteen minutes) or a "
    "configuration change on the server, the server will respond with a 410 ResourceExpired "
    "error together with a continue token. If the client needs a consistent list, it must "
    "restart their list without the continue field. Otherwise, the client may send another "
    "list request with the token received with the 410 error, the server will respond with a "
    "list starting from the next key, but from the latest snapshot, which is inconsistent from "
    "the previous list results - objects that are created, modified, or deleted after the "
    "first list request will be included in the response, as long as their keys are after the "
    '"next key".\n\nThis field is not supported when watch is true. Clients may start a watch '
    "from the last resourceVersion value returned by the server and not miss any "
    "modifications.",
)
FIELD_SELECTOR = _q(
    "fieldSelector",
    "string",
    "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
)
LABEL_SELECTOR = _q(
    "labelSelector",
    "string",
    "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
)
LIMIT = _q(
    "limit",
    "integer",
    "limit is a maximum number of responses to return for a list call. If more items exist, "
    "the server will set the `continue` field on the list metadata to a value that can be "
    "used with the same initial query to retrieve the next set of results. Setting a limit "
    "may return fewer than the requested amount of items (up to zero items) in the event all "
    "requested objects are filtered out and clients should only use the presence of the "
    "continue field to determine whether more results are available. Servers may choose not "
    "to support the limit argument and will return all of the available results. If limit is "
    "specified and the continue field is empty, clients may assume that no more results are "
    "available. This field is not supported if watch is true.\n\nThe server guarantees that "
    "the objects returned when using continue will be identical to issuing a single list call "
    "without a limit - that is, no objects created, modified, or deleted after the first "
    "request is issued will be included in any subsequent continued requests. This is "
    "sometimes referred to as a consistent snapshot, and ensures that a client that is using "
    "limit to receive smaller chunks of a very large result can ensure they see all possible "
    "objects. If objects are updated during a chunked list the version of the object that was "
    "present at the time the first list result was calculated is returned.",
)
RESOURCE_VERSION = _q(
    "resourceVersion",
    "string",
    "resourceVersion sets a constraint on what resource versions a request may be served "
    "from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions "
    "for details.\n\nDefaults to unset",
)
RESOURCE_VERSION_MATCH = _q(
    "resourceVersionMatch",
    "string",
    "resourceVersionMatch determines how resourceVersion is applied to list calls. It is "
    "highly recommended that resourceVersionMatch be set for list calls where resourceVersion "
    "is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions "
    "for details.\n\nDefaults to unset",
)
SEND_INITIAL_EVENTS = _q(
    "sendInitialEvents",
    "boolean",
    "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch "
    "stream will begin with synthetic events to produce the current state of objects in the "
    'collection. Once all such events have been sent, a synthetic "Bookmark" event  will be '
    "sent. The bookmark will report the ResourceVersion (RV) corresponding to the set of "
    'objects, and be marked with `"k8s.io/initial-events-end": "true"` annotation. '
    "Afterwards, the watch stream will proceed as usual, sending watch events corresponding to "
    "changes (subsequent to the RV) to objects watched.\n\nWhen `sendInitialEvents` option is "
    "set, we require `resourceVersionMatch` option to also be set. The semantic of the watch "
    "request is as following: - `resourceVersionMatch` = NotOlderThan\n  is interpreted as "
    '"data at least as new as the provided `resourceVersion`"\n  and the bookmark event is '
    "send when the state is synced\n  to a `resourceVersion` at least as fresh as the one "
    "provided by the ListOptions.\n  If `resourceVersion` is unset, this is interpreted as "
    '"consistent read" and the\n  bookmark event is send when the state is synced at least to '
    "the moment\n  when request started being processed.\n- `resourceVersionMatch` set to any "
    "other value or unset\n  Invalid error is returned.\n\nDefaults to true if "
    '`resourceVersion=""` or `resourceVersion="0"` (for backward compatibility reasons) and '
    "to false otherwise.",
)
TIMEOUT_SECONDS = _q(
    "timeoutSeconds",
    "integer",
    "Timeout for the list/watch call. This limits the duration of the call, regardless of any "
    "activity or inactivity.",
)
WATCH = _q(
    "watch",
    "boolean",
    "Watch for changes to the described resources and return them as a stream of add, "
    "update, and remove notifications. Specify resourceVersion.",
)
DRY_RUN = _q(
    "dryRun",
    "string",
    "When present, indicates that modifications should not be persisted. An invalid or "
    "unrecognized dryRun directive will result in an error response and no further processing "
    "of the request. Valid values are: - All: all dry run stages will be processed",
)
_FIELD_MANAGER_TEXT = (
    "fieldManager is a name associated with the actor or entity that is making these changes. "
    "The value must be less than or 128 characters long, and only contain printable "
    "characters, as defined by https://golang.org/pkg/unicode/#IsPrint."
)
FIELD_MANAGER = _q("fieldManager", "string", _FIELD_MANAGER_TEXT)
PATCH_FIELD_MANAGER = _q(
    "fieldManager",
    "string",
    _FIELD_MANAGER_TEXT + " This field is required for apply requests "
    "(application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, "
    "StrategicMergePatch).",
)
FIELD_VALIDATION = _q(
    "fieldValidation",
    "string",
    "fieldValidation instructs the server on how to handle objects in the request "
    "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This "
    "will ignore any unknown fields that are silently dropped from the object, and will ignore "
    "all but the last duplicate field that the decoder encounters. This is the default "
    "behavior prior to v1.23. - Warn: This will send a warning via the standard warning "
    "response header for each unknown field that is dropped from the object, and for each "
    "duplicate field that is encountered. The request will still succeed if there are no "
    "other errors, and will only persist the last of any duplicate fields. This is the default "
    "in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown "
    "fields would be dropped from the object, or if any duplicate fields are present. The "
    "error returned from the server will contain all unknown and duplicate fields "
    "encountered.",
)
FORCE = _q(
    "force",
    "boolean",
    'Force is going to "force" Apply requests. It means user will re-acquire conflicting '
    "fields owned by other people. Force flag must be unset for non-apply patch requests.",
)
GRACE_PERIOD_SECONDS = _q(
    "gracePeriodSeconds",
    "integer",
    "The duration in seconds before the object should be deleted. Value must be non-negative "
    "integer. The value zero indicates delete immediately. If this value is nil, the default "
    "grace period for the specified type will be used. Defaults to a per object value if not "
    "specified. zero means delete immediately.",
)
ORPHAN_DEPENDENTS = _q(
    "orphanDependents",
    "boolean",
    "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. "
    'Should the dependent objects be orphaned. If true/false, the "orphan" finalizer will be '
    "added to/removed from the object's finalizers list. Either this field or "
    "PropagationPolicy may be set, but not both.",
)
PROPAGATION_POLICY = _q(
    "propagationPolicy",
    "string",
    "Whether and how garbage collection will be performed. Either this field or "
    "OrphanDependents may be set, but not both. The default policy is decided by the existing "
    "finalizer set in the metadata.finalizers and the resource-specific default policy. "
    "Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the "
    "garbage collector to delete the dependents in the background; 'Foreground' - a cascading "
    "policy that deletes all dependents in the foreground.",
)

# The option sets of each action.
LIST = (
    ALLOW_WATCH_BOOKMARKS, CONTINUE, FIELD_SELECTOR, LABEL_SELECTOR, LIMIT, RESOURCE_VERSION,
    RESOURCE_VERSION_MATCH, SEND_INITIAL_EVENTS, TIMEOUT_SECONDS, WATCH,
)  # fmt: skip
CREATE = (DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION)
UPDATE = CREATE
PATCH = (DRY_RUN, PATCH_FIELD_MANAGER, FIELD_VALIDATION, FORCE)
DELETE = (DRY_RUN, GRACE_PERIOD_SECONDS, ORPHAN_DEPENDENTS, PROPAGATION_POLICY)
DELETE_COLLECTION = (
    CONTINUE, DRY_RUN, FIELD_SELECTOR, GRACE_PERIOD_SECONDS, LABEL_SELECTOR, LIMIT,
    ORPHAN_DEPENDENTS, PROPAGATION_POLICY, RESOURCE_VERSION, RESOURCE_VERSION_MATCH,
    SEND_INITIAL_EVENTS, TIMEOUT_SECONDS,
)  # fmt: skip

# Subresources with their own options (GetterWithOptions / Connecter upstream).
LOG = (
    _q("container", "string", "The container for which to stream logs. Defaults to only "
       "container if there is one container in the pod."),
    _q("follow", "boolean", "Follow the log stream of the pod. Defaults to false."),
    _q("insecureSkipTLSVerifyBackend", "boolean", "insecureSkipTLSVerifyBackend indicates that "
       "the apiserver should not confirm the validity of the serving certificate of the "
       "backend it is connecting to.  This will make the HTTPS connection between the "
       "apiserver and the backend insecure. This means the apiserver cannot verify the log "
       "data it is receiving came from the real kubelet.  If the kubelet is configured to "
       "verify the apiserver's TLS credentials, it does not mean the connection to the real "
       "kubelet is vulnerable to a man in the middle attack (e.g. an attacker could not "
       "intercept the actual log data coming from the real kubelet)."),
    _q("limitBytes", "integer", "If set, the number of bytes to read from the server before "
       "terminating the log output. This may not display a complete final line of logging, "
       "and may return slightly more or slightly less than the specified limit."),
    _q("previous", "boolean", "Return previous terminated container logs. Defaults to false."),
    _q("sinceSeconds", "integer", "A relative time in seconds before the current time from "
       "which to show logs. If this value precedes the time a pod was started, only logs since "
       "the pod start will be returned. If this value is in the future, no logs will be "
       "returned. Only one of sinceSeconds or sinceTime may be specified."),
    _q("tailLines", "integer", "If set, the number of lines from the end of the logs to show. "
       "If not specified, logs are shown from the creation of the container or sinceSeconds or "
       "sinceTime"),
    _q("timestamps", "boolean", "If true, add an RFC3339 or RFC3339Nano timestamp at the "
       "beginning of every line of log output. Defaults to false."),
)  # fmt: skip
EXEC = (
    _q("command", "string", "Command is the remote command to execute. argv array. Not "
       "executed within a shell."),
    _q("container", "string", "Container in which to execute the command. Defaults to only "
       "container if there is only one container in the pod."),
    _q("stderr", "boolean", "Redirect the standard error stream of the pod for this call."),
    _q("stdin", "boolean", "Redirect the standard input stream of the pod for this call. "
       "Defaults to false."),
    _q("stdout", "boolean", "Redirect the standard output stream of the pod for this call."),
    _q("tty", "boolean", "TTY if true indicates that a tty will be allocated for the exec "
       "call. Defaults to false."),
)  # fmt: skip
ATTACH = (
    _q("container", "string", "The container in which to execute the command. Defaults to "
       "only container if there is only one container in the pod."),
    _q("stderr", "boolean", "Stderr if true indicates that stderr is to be redirected for the "
       "attach call. Defaults to true."),
    _q("stdin", "boolean", "Stdin if true, redirects the standard input stream of the pod for "
       "this call. Defaults to false."),
    _q("stdout", "boolean", "Stdout if true indicates that stdout is to be redirected for the "
       "attach call. Defaults to true."),
    _q("tty", "boolean", "TTY if true indicates that a tty will be allocated for the attach "
       "call. This is passed through the container runtime so the tty is allocated on the "
       "worker node by the container runtime. Defaults to false."),
)  # fmt: skip
PORT_FORWARD = (_q("ports", "integer", "List of ports to forward Required when using WebSockets"),)
NODE_PROXY = (
    _q("path", "string", "Path is the URL path to use for the current proxy request to node."),
)
# The `{path}` of `.../proxy/{path}`: the rest of the URL, sent on to the backend.
PROXY_PATH = Param("path", "path", "string", "path to the resource")
SUBRESOURCE_OPTIONS: dict[str, tuple[Param, ...]] = {
    "log": LOG,
    "exec": EXEC,
    "attach": ATTACH,
    "portforward": PORT_FORWARD,
    "proxy": NODE_PROXY,
}
