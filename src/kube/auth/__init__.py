"""Authentication machinery: the cluster PKI, kubeconfig files, and request authenticators.

Start with `ensure_pki` (certificates on disk), `write_admin_kubeconfig` (what kubectl uses)
and `x509_user` / `StaticTokenFile` (who a request is). See README.md.
"""

from kube.auth.authn import (
    AUTHENTICATED_GROUP,
    StaticTokenFile,
    UserInfo,
    bearer_token,
    parse_token_file,
    x509_user,
)
from kube.auth.certs import (
    ADMIN_GROUP,
    ADMIN_USER,
    PKI,
    CertKey,
    create_ca,
    default_hosts,
    ensure_client_cert,
    ensure_pki,
    issue_client_cert,
    issue_serving_cert,
)
from kube.auth.kubeconfig import (
    KubeconfigError,
    KubeconfigInfo,
    load_kubeconfig,
    server_url,
    write_admin_kubeconfig,
    write_kubeconfig,
)
from kube.auth.tls import client_ssl_context, server_ssl_context

__all__ = [
    "ADMIN_GROUP",
    "ADMIN_USER",
    "AUTHENTICATED_GROUP",
    "PKI",
    "CertKey",
    "KubeconfigError",
    "KubeconfigInfo",
    "StaticTokenFile",
    "UserInfo",
    "bearer_token",
    "client_ssl_context",
    "create_ca",
    "default_hosts",
    "ensure_client_cert",
    "ensure_pki",
    "issue_client_cert",
    "issue_serving_cert",
    "load_kubeconfig",
    "parse_token_file",
    "server_ssl_context",
    "server_url",
    "write_admin_kubeconfig",
    "write_kubeconfig",
    "x509_user",
]
