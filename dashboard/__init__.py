"""podscope's hub: a Django-free core (:mod:`dashboard.core`) under a thin Django layer.

The core ingests entries, names them from the Kubernetes watch, stores them, serves the maps,
export and metrics, and runs one filtered session per viewer. The Django layer around it is
settings, urls, the ASGI application, the websocket consumer, the HTTP API, the frontend's
files and the ``podscope`` management command. See docs/ARCHITECTURE.md.
"""
