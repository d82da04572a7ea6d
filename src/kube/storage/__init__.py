"""Storage: the `Backend` protocol and its two implementations (SQLite, etcd v3)."""
