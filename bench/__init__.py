"""S3 benchmark harness: alexanderd beside peer servers (`python -m bench`, see README.md)."""
