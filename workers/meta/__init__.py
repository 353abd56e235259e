"""The meta process: sole owner of the metadata database (buckets, objects, blobs, users, keys)."""
