"""make bench's pieces: processes (procs), the shared runner state (bench), the
row groups (local: loopback and veth; links: tou-netem's emulated links;
peers: UDT and SRT; external: scripts other work plugs in) and the tables."""
