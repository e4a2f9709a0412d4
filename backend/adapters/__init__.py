"""The adapters room: the outside world behind small interfaces. Redis clients, the SMTP
mailer, the LLM HTTP client, the file store of uploads, the isolated parser process and the
local mailbox reader. Adapters import neither use cases, the platform, the API nor the worker."""

__all__ = [
    "file_store",
    "llm",
    "mailbox",
    "mailer",
    "parser_pool",
    "parser_process",
    "redis_clients",
]
