"""SQL storage: what must outlive Redis (cases, documents, reports)."""
