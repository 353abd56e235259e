"""alexanderctl: administration of a running daemon over its control socket."""
