"""Decoded packets to connection events and entries: TCP, UDP, DNS, ICMP, and duplicates dropped."""
