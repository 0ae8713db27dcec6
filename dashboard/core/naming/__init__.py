"""Kubernetes naming: the watch, its resources and the (ip, time) index that names endpoints."""
