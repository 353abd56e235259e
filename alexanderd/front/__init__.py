"""The S3 front: HTTP acceptor, request authentication, routing and responses."""
