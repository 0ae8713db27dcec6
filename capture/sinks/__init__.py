"""Where entries go: the Redis stream, JSON lines, and the pcap ring of full mode."""
