"""The controller-manager: the built-in controllers and the process that runs them."""
