"""`kube runtime`: a CRI server that runs pods with runc (or as plain processes)."""
