"""Codecs: objects (plain dicts in the JSON wire shape) to and from JSON, YAML and protobuf."""
