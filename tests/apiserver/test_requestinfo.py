"""Request classification against upstream's requestinfo_test.go (k8s.io/apiserver).

The tables are upstream's TestGetAPIRequestInfo, TestGetNonAPIRequestInfo and
TestFieldSelectorParsing, with one documented difference: the namespace object itself
(`/api/v1/namespaces/{name}`) has an empty `namespace` here, where upstream repeats the name.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from kube.apiserver.requestinfo import RequestInfo, parse


def info_for(method: str, url: str) -> RequestInfo:
    split = urlsplit(url)
    # First value wins, as aiohttp's MultiDict.get and Go's url.Values.Get.
    query: dict[str, str] = {}
    for key, value in parse_qsl(split.query, keep_blank_values=True):
        query.setdefault(key, value)
    return parse(method, split.path, query)


# method, url, verb, group, version, namespace, resource, subresource, name
API_CASES = [
    # resource paths
    ("GET", "/api/v1/namespaces", "list", "", "v1", "", "namespaces", "", ""),
    ("GET", "/api/v1/namespaces/other", "get", "", "v1", "", "namespaces", "", "other"),
    ("GET", "/api/v1/namespaces/other/pods", "list", "", "v1", "other", "pods", "", ""),
    ("GET", "/api/v1/namespaces/other/pods/foo", "get", "", "v1", "other", "pods", "", "foo"),
    ("HEAD", "/api/v1/namespaces/other/pods/foo", "get", "", "v1", "other", "pods", "", "foo"),
    ("GET", "/api/v1/pods", "list", "", "v1", "", "pods", "", ""),
    ("HEAD", "/api/v1/pods", "list", "", "v1", "", "pods", "", ""),
    # special verbs
    (
        "GET",
        "/api/v1/proxy/namespaces/other/pods/foo",
        "proxy",
        "",
        "v1",
        "other",
        "pods",
        "",
        "foo",
    ),
    ("GET", "/api/v1/watch/pods", "watch", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?watch=true", "watch", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/pods?watch=false", "list", "", "v1", "", "pods", "", ""),
    ("GET", "/api/v1/watch/namespaces/other/pods", "watch", "", "v1", "other", "pods", "", ""),
    ("GET", "/api/v1/namespaces/other/pods?watch=1", "watch", "", "v1", "other", "pods", "", ""),
    ("GET", "/api/v1/namespaces/other/pods?watch=0", "list", "", "v1", "other", "pods", "", ""),
    # subresource identification
    (
        "GET",
        "/api/v1/namespaces/other/pods/foo/status",
        "get",
        "",
        "v1",
        "other",
        "pods",
        "status",
        "foo",
    ),
    (
        "GET",
        "/api/v1/namespaces/other/pods/foo/proxy/subpath",
        "get",
        "",
        "v1",
        "other",
        "pods",
        "proxy",
        "foo",
    ),
    (
        "PUT",
        "/api/v1/namespaces/other/finalize",
        "update",
        "",
        "v1",
        "",
        "namespaces",
        "finalize",
        "other",
    ),
    (
        "PUT",
        "/api/v1/namespaces/other/status",
        "update",
        "",
        "v1",
        "",
        "namespaces",
        "status",
        "other",
    ),
    # verb identification
    ("PATCH", "/api/v1/namespaces/other/pods/foo", "patch", "", "v1", "other", "pods", "", "foo"),
    ("DELETE", "/api/v1/namespaces/other/pods/foo", "delete", "", "v1", "other", "pods", "", "foo"),
    ("POST", "/api/v1/namespaces/other/pods", "create", "", "v1", "other", "pods", "", ""),
    # deletecollection verb identification
    ("DELETE", "/api/v1/nodes", "deletecollection", "", "v1", "", "nodes", "", ""),
    ("DELETE", "/api/v1/namespaces", "deletecollection", "", "v1", "", "namespaces", "", ""),
    (
        "DELETE",
        "/api/v1/namespaces/other/pods",
        "deletecollection",
        "",
        "v1",
        "other",
        "pods",
        "",
        "",
    ),
    (
        "DELETE",
        "/apis/extensions/v1/namespaces/other/pods",
        "deletecollection",
        "extensions",
        "v1",
        "other",
        "pods",
        "",
        "",
    ),
    # api group and version identification
    (
        "POST",
        "/apis/extensions/v1/namespaces/other/pods",
        "create",
        "extensions",
        "v1",
        "other",
        "pods",
        "",
        "",
    ),
    (
        "POST",
        "/apis/extensions/v1beta3/namespaces/other/pods",
        "create",
        "extensions",
        "v1beta3",
        "other",
        "pods",
        "",
        "",
    ),
    # more of this server's shapes
    ("GET", "/apis/apps/v1/deployments", "list", "apps", "v1", "", "deployments", "", ""),
    (
        "PUT",
        "/apis/apps/v1/namespaces/ns/deployments/d/scale",
        "update",
        "apps",
        "v1",
        "ns",
        "deployments",
        "scale",
        "d",
    ),
    ("GET", "/api/v1/nodes/n1", "get", "", "v1", "", "nodes", "", "n1"),
    ("PATCH", "/api/v1/nodes/n1/status", "patch", "", "v1", "", "nodes", "status", "n1"),
    ("GET", "/api/v1/namespaces/ns/pods/p/log", "get", "", "v1", "ns", "pods", "log", "p"),
    ("GET", "/api/v1/watch/namespaces/ns/pods/p", "watch", "", "v1", "ns", "pods", "", "p"),
    ("DELETE", "/api/v1/namespaces/other", "delete", "", "v1", "", "namespaces", "", "other"),
    ("POST", "/api/v1/namespaces", "create", "", "v1", "", "namespaces", "", ""),
    (
        "GET",
        "/api/v1/namespaces/ns/status/extra",
        "get",
        "",
        "v1",
        "",
        "namespaces",
        "status",
        "ns",
    ),
    ("GET", "/api/v1/pods/", "list", "", "v1", "", "pods", "", ""),  # a trailing slash
    ("OPTIONS", "/api/v1/pods", "", "", "v1", "", "pods", "", ""),  # no verb for other methods
]


@pytest.mark.parametrize(
    ("method", "url", "verb", "group", "version", "namespace", "resource", "subresource", "name"),
    API_CASES,
)
def test_api_requests(
    method: str,
    url: str,
    verb: str,
    group: str,
    version: str,
    namespace: str,
    resource: str,
    subresource: str,
    name: str,
) -> None:
    info = info_for(method, url)
    assert info.is_resource
    assert info.path == urlsplit(url).path
    got = (info.verb, info.group, info.version, info.namespace, info.resource)
    assert got == (verb, group, version, namespace, resource)
    assert (info.subresource, info.name) == (subresource, name)


def test_a_get_with_a_name_is_a_get_even_with_watch_set() -> None:
    # Only a collection GET turns into a watch; upstream serves the object.
    assert info_for("GET", "/api/v1/namespaces/ns/pods/p?watch=true").verb == "get"


@pytest.mark.parametrize(
    ("query", "verb"),
    [
        ("watch=true", "watch"),
        ("watch=True", "watch"),
        ("watch=1", "watch"),
        ("watch=yes", "watch"),  # anything but 0 and false, as upstream converts booleans
        ("watch=", "watch"),
        ("watch", "watch"),
        ("watch=false", "list"),
        ("watch=FALSE", "list"),
        ("watch=0", "list"),
        ("", "list"),
        ("watch=false&watch=true", "list"),  # the first value counts
    ],
)
def test_watch_parameter(query: str, verb: str) -> None:
    assert info_for("GET", f"/api/v1/pods?{query}").verb == verb


def test_proxy_paths_have_no_subresource_and_keep_the_rest() -> None:
    info = info_for("GET", "/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource")
    assert (info.verb, info.namespace, info.resource, info.name) == (
        "proxy",
        "other",
        "pods",
        "foo",
    )
    assert info.subresource == ""
    assert info.rest == ("subpath", "not", "a", "subresource")


def test_extra_segments_after_a_subresource() -> None:
    info = info_for("GET", "/api/v1/namespaces/ns/pods/p/proxy/a/b")
    assert info.subresource == "proxy"
    assert info.rest == ("a", "b")


@pytest.mark.parametrize("url", ["/api/v1/watch", "/api/v1/proxy"])
def test_a_special_verb_without_a_resource_is_not_a_verb(url: str) -> None:
    # Upstream fails these with an error (500); here they name a resource that does not exist.
    info = info_for("GET", url)
    assert info.is_resource
    assert (info.verb, info.resource) == ("list", url.rsplit("/", 1)[1])


@pytest.mark.parametrize(
    ("url", "name", "verb"),
    [
        ("/apis/group/version/resource", "", "list"),
        ("/apis/group/version/resource?fieldSelector=metadata.name=name1", "name1", "list"),
        (
            "/apis/group/version/resource?watch=true&fieldSelector=metadata.name=name1",
            "name1",
            "watch",
        ),
        ("/apis/group/version/resource?fieldSelector=foo=bar", "", "list"),
        ("/apis/group/version/resource?fieldSelector=metadata.name=name1,foo", "", "list"),
        (
            "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=true",
            "",
            "watch",
        ),
        (
            "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=false",
            "",
            "list",
        ),
        ("/apis/group/version/resource?fieldSelector=metadata.name!=name1", "", "list"),
        ("/apis/group/version/resource?fieldSelector=metadata.name==n,spec.x=y", "n", "list"),
        ("/apis/group/version/resource?fieldSelector=metadata.name=..", "", "list"),
        ("/apis/group/version/resource?fieldSelector=metadata.name=a%25b", "", "list"),
        ("/apis/group/version/resource?fieldSelector=metadata.name=a/b", "", "list"),
    ],
)
def test_field_selector_names_the_object_of_a_list(url: str, name: str, verb: str) -> None:
    info = info_for("GET", url)
    assert (info.name, info.verb) == (name, verb)


def test_field_selector_name_does_not_turn_delete_into_a_single_delete() -> None:
    info = info_for("DELETE", "/api/v1/pods?fieldSelector=metadata.name=p")
    assert (info.verb, info.name) == ("deletecollection", "")


@pytest.mark.parametrize(
    "url",
    [
        "/not-api/version/resource",
        "/apis/extensions/v1beta1",
        "/apis/extensions/v1beta1/",
        "/api/version",
        "/api",
        "/apis",
        "/",
        "",
        "/healthz",
        "/version",
        "/openapi/v3/api/v1",
        "/apis/apps",
    ],
)
def test_non_resource_requests(url: str) -> None:
    info = info_for("GET", url)
    assert not info.is_resource
    assert info.verb == "get"
    assert info.path == url


@pytest.mark.parametrize(
    "url",
    [
        "/api/version/resource",
        "/apis/group/version/resource/name/subresource",
        "/api/version/resource/name/subresource",
        "/apis/batch/v1/job",
        "/apis/batch/v1/job/foo",
        "/apis/batch/v1/job/foo/scale",
    ],
)
def test_resource_requests(url: str) -> None:
    assert info_for("GET", url).is_resource


def test_non_resource_verb_is_the_lowercase_method() -> None:
    assert parse("POST", "/healthz", {}).verb == "post"


def test_api_version_property() -> None:
    assert info_for("GET", "/api/v1/pods").api_version == "v1"
    assert info_for("GET", "/apis/apps/v1/deployments").api_version == "apps/v1"
