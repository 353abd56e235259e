-- Object versioning, multipart uploads and GC bookkeeping.
-- Applied inside one transaction by workers/meta/sqlite/migrate.py.

-- The order of a key's versions, newest first: a strictly increasing clock stamp (ns), taken
-- when the version was written. A generated version id encodes the same stamp
-- (workers/meta/ids.py), so a version-id-marker can be placed without a lookup.
ALTER TABLE objects ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE objects SET seq = CAST(last_modified * 1000000000 AS INTEGER);
CREATE INDEX objects_versions ON objects (bucket, key, seq DESC);

-- One row per multipart upload. A completed upload keeps its row (with the part list it was
-- completed with and the resulting ObjectInfo) so that a retried completion gets the same
-- answer; GC drops it after the multipart expiration.
CREATE TABLE uploads (
    upload_id          TEXT PRIMARY KEY,  -- workers/meta/ids.py: sorts by initiation time
    bucket             TEXT NOT NULL REFERENCES buckets (name),
    key                TEXT NOT NULL,
    initiated          REAL NOT NULL,
    owner_id           TEXT NOT NULL DEFAULT '',
    headers            TEXT NOT NULL DEFAULT '{}',
    user_meta          TEXT NOT NULL DEFAULT '{}',
    storage_class      TEXT NOT NULL DEFAULT 'STANDARD',
    checksum_algorithm TEXT,
    checksum_type      TEXT,
    completed_at       REAL,              -- NULL while the upload is in progress
    completed_parts    TEXT,              -- JSON [[part number, etag], ...]
    result             TEXT               -- JSON ObjectInfo of the completed object
);
CREATE INDEX uploads_pending ON uploads (bucket, key, upload_id) WHERE completed_at IS NULL;
CREATE INDEX uploads_expiring ON uploads (initiated) WHERE completed_at IS NULL;
CREATE INDEX uploads_completed ON uploads (completed_at) WHERE completed_at IS NOT NULL;
CREATE INDEX uploads_by_bucket ON uploads (bucket);

-- Parts of uploads in progress. Each row holds one reference on its blob (blobs.refcount).
CREATE TABLE parts (
    upload_id     TEXT NOT NULL REFERENCES uploads (upload_id),
    part_number   INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    size          INTEGER NOT NULL,
    md5           TEXT NOT NULL,          -- hex: the part's ETag
    checksums     TEXT NOT NULL DEFAULT '{}',
    last_modified REAL NOT NULL,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;

-- Small named values GC keeps between passes (the leaked-file sweep's shard cursor).
CREATE TABLE gc_state (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
