"""Performance harnesses shipped with the `kube` command (`kube bench ...`).

Each module here drives a real cluster (an API server in its own process, components in this
one) and reports figures against the issues' targets; `bench/` keeps the pytest-benchmark
suites and the committed baselines.
"""
