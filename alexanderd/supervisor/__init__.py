"""The supervisor process: listeners, children, signals, control socket, metrics exporter."""
