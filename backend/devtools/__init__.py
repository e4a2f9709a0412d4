"""Developer tooling: a local Redis, the process command lines, and the `make up` supervisor."""
