"""Stand-ins for external systems that cannot run here (FreeSWITCH), built from recorded bytes."""
