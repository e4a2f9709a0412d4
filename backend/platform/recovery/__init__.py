"""Crash recovery: the reaper gives back what a dead worker held; the orphan sweep publishes
again a waiting task whose message the broker lost."""

__all__ = ["orphans", "reaper"]
