"""podscope's contract: the entry schema, the Redis layout, the workers' stats snapshot, websocket
messages and shared formatting.

Capture, kfl and dashboard import this package; it imports none of them."""
