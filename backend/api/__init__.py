"""The API room: the FastAPI app and everything HTTP. The app factory, error → HTTP mapping,
dependencies, middleware (one concern a file), request and response schemas, routers (one per
resource) and Server-Sent Event streams. The only room that imports FastAPI or Starlette."""

__all__ = [
    "app",
    "auth",
    "deps",
    "errors",
    "lifespan",
    "middleware",
    "openapi",
    "quotas",
    "routes",
    "schemas",
    "streams",
]
