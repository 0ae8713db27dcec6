"""The hub's Django-free core: ingest, store, naming, targeting, sessions and outputs."""
