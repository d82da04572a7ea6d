"""The Container Runtime Interface: the kubelet's gRPC client and the built-in runtime."""
