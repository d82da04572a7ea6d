"""The kubelet: registers its Node, runs its pods through the CRI, reports their status."""
