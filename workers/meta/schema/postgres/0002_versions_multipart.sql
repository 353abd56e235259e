-- Object versioning, multipart uploads and GC bookkeeping (numbered as the SQLite schema's
-- migrations, so both engines report the same migration status).

-- The order of a key's versions, newest first: a strictly increasing clock stamp (ns). A
-- generated version id encodes the same stamp (workers/meta/ids.py).
ALTER TABLE objects ADD COLUMN seq bigint NOT NULL DEFAULT 0;
UPDATE objects SET seq = (last_modified * 1000000000)::bigint;
CREATE INDEX objects_versions ON objects (bucket, key, seq DESC);

-- One row per multipart upload; a completed one keeps its part list and result so that a
-- retried completion gets the same answer, until GC drops it.
CREATE TABLE uploads (
    upload_id          text COLLATE "C" PRIMARY KEY,  -- sorts by initiation time
    bucket             text COLLATE "C" NOT NULL REFERENCES buckets (name),
    key                bytea NOT NULL,
    initiated          double precision NOT NULL,
    owner_id           text COLLATE "C" NOT NULL DEFAULT '',
    headers            text NOT NULL DEFAULT '{}',
    user_meta          text NOT NULL DEFAULT '{}',
    storage_class      text NOT NULL DEFAULT 'STANDARD',
    checksum_algorithm text,
    checksum_type      text,
    completed_at       double precision,             -- NULL while in progress
    completed_parts    text,                         -- JSON [[part number, etag], ...]
    result             text                          -- JSON ObjectInfo of the completed object
);
CREATE INDEX uploads_pending ON uploads (bucket, key, upload_id) WHERE completed_at IS NULL;
CREATE INDEX uploads_expiring ON uploads (initiated) WHERE completed_at IS NULL;
CREATE INDEX uploads_completed ON uploads (completed_at) WHERE completed_at IS NOT NULL;
CREATE INDEX uploads_by_bucket ON uploads (bucket);

-- Parts of uploads in progress. Each row holds one reference on its blob.
CREATE TABLE parts (
    upload_id     text COLLATE "C" NOT NULL REFERENCES uploads (upload_id),
    part_number   integer NOT NULL,
    sha256        text COLLATE "C" NOT NULL,
    size          bigint NOT NULL,
    md5           text NOT NULL,                   -- hex: the part's ETag
    checksums     text NOT NULL DEFAULT '{}',
    last_modified double precision NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);

-- Small named values GC keeps between passes (the leaked-file sweep's shard cursor).
CREATE TABLE gc_state (
    name  text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);
