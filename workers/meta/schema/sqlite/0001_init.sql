-- Initial schema. Applied inside one transaction by workers/meta/sqlite/migrate.py.
-- TEXT columns use the default BINARY collation: keys compare in UTF-8 byte order, as S3 lists.

CREATE TABLE users (
    id      TEXT PRIMARY KEY,          -- canonical id: 64 lowercase hex characters
    name    TEXT NOT NULL UNIQUE,
    created REAL NOT NULL
);

CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    secret        BLOB NOT NULL,       -- nonce || AES-256-GCM(secret), AAD = access_key_id
    status        TEXT NOT NULL DEFAULT 'Active' CHECK (status IN ('Active', 'Inactive')),
    created       REAL NOT NULL
);
CREATE INDEX access_keys_by_user ON access_keys (user_id);

CREATE TABLE buckets (
    name       TEXT PRIMARY KEY,
    owner_id   TEXT NOT NULL REFERENCES users (id),
    created    REAL NOT NULL,
    region     TEXT NOT NULL,
    acl        TEXT NOT NULL DEFAULT 'private',
    versioning TEXT NOT NULL DEFAULT ''  -- '', 'Enabled', 'Suspended'
);
CREATE INDEX buckets_by_owner ON buckets (owner_id, name);

-- One row per object version. Until versioning lands every write replaces version 'null'.
CREATE TABLE objects (
    bucket        TEXT NOT NULL REFERENCES buckets (name),
    key           TEXT NOT NULL,
    version_id    TEXT NOT NULL DEFAULT 'null',
    is_latest     INTEGER NOT NULL DEFAULT 1,
    delete_marker INTEGER NOT NULL DEFAULT 0,
    size          INTEGER NOT NULL,
    etag          TEXT NOT NULL,         -- unquoted
    last_modified REAL NOT NULL,         -- epoch seconds, millisecond precision
    blobs         TEXT NOT NULL,         -- JSON list of {sha256, size, md5}
    headers       TEXT NOT NULL DEFAULT '{}',
    user_meta     TEXT NOT NULL DEFAULT '{}',
    checksums     TEXT NOT NULL DEFAULT '{}',
    storage_class TEXT NOT NULL DEFAULT 'STANDARD',
    owner_id      TEXT NOT NULL DEFAULT '',
    corrupt       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, key, version_id)
);
-- Listings walk the current version of each key in key order, seeking past common prefixes.
CREATE UNIQUE INDEX objects_current ON objects (bucket, key) WHERE is_latest = 1;

CREATE TABLE blobs (
    sha256      TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    refcount    INTEGER NOT NULL CHECK (refcount >= 0),
    orphaned_at REAL                     -- set when refcount reaches 0, cleared on revival
);
CREATE INDEX blobs_orphans ON blobs (orphaned_at) WHERE refcount = 0;
