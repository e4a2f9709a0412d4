"""HTTP routes, one module per resource, collected by backend.app."""
