"""The `kube` command: one entry point, one subcommand per component (k3s-style)."""
