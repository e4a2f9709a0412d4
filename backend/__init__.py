"""Background processing and queue management for a legal case-triage backend."""
