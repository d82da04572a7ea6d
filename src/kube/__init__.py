"""kube: a Kubernetes control plane and node agent in Python with native hot paths.

The layers, outermost first (checked by import-linter, see pyproject.toml):
cli > components (apiserver, controllers, scheduler, kubelet, cri, proxy, addons, sim)
> machinery (client, storage, auth, admission) > api/codec > native.
"""
