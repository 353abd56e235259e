"""The blob-I/O worker: durable content-addressed writes and range reads of a data directory."""
