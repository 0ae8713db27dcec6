"""Entries into the hub: the Redis stream or the embedded worker, decoded, checked and merged across
workers."""
