"""Services: the platform's stateful building blocks (Redis, broker, SQL)."""
