"""rq jobs and the PBX transports they use."""
