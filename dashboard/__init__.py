"""podscope hub: Kubernetes naming, targeting and (later) the Django/Channels dashboard."""
