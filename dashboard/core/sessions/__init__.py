"""Viewer sessions: one compiled KFL filter each, bounded queues, and the index of views."""
