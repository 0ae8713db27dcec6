"""Defaults shared by the ``podscope`` commands (tap forwards where export looks)."""

DEFAULT_PORT = 8899  # the local port tap forwards the hub to (Kubeshark's front port too)
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
DEFAULT_RELEASE = "podscope"
DEFAULT_NAMESPACE = "podscope"
DEFAULT_TIMEOUT_S = 300
