"""The API server: discovery, OpenAPI, the generic store and the handlers that serve them."""
