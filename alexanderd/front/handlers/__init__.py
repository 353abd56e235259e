"""S3 operation handlers: each takes the request and returns a Response value."""
