"""Raw frames to decoded packets: Ethernet/SLL/IP/TCP/UDP headers and ICMP errors."""
