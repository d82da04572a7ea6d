"""Version of this project and of the Kubernetes API it serves."""

__version__ = "0.1.0"

# The Kubernetes release whose API this project follows (reported by /version and `kube version`).
KUBERNETES_MAJOR = "1"
KUBERNETES_MINOR = "37"
KUBERNETES_GIT_VERSION = f"v{KUBERNETES_MAJOR}.{KUBERNETES_MINOR}.0+kube-py.{__version__}"
