"""Where frames come from: live AF_PACKET rings with kernel BPF filters, or pcap/pcapng files."""
