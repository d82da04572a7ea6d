"""Admission plugins of the API server (upstream's plugin/pkg/admission), one per module."""
