"""podscope capture worker: packets to connection entries, published to Redis."""
