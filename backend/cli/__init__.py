"""The `python -m backend` command line: tokens, migrations, the dead-letter store, and batch
submission of a file of cases (an HTTP client of the API). The only room that may use devtools."""

__all__ = ["batch", "batch_input", "dead_letters", "main"]
