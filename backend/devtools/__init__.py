"""Developer tooling: a local Redis, the process command lines, the SMTP sink and the `make up`
supervisor. Run as programs (`python -m backend.devtools.run_all`); no server room imports it."""

__all__ = ["commands", "redis_server", "run_all", "smtp_sink"]
