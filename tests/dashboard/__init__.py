"""Tests of the hub: Kubernetes naming index, watcher, snapshot and pod targeting."""
