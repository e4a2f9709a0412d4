"""Authentication (bearer JWT) and authorisation (roles, ownership)."""
