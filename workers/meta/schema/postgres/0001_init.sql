-- Initial schema. Applied inside one transaction by workers/meta/postgres/migrate.py, under
-- an advisory lock so that nodes starting together apply it once.
-- Identifiers and addresses are COLLATE "C" (byte order, whatever the database's locale);
-- object keys are bytea holding their UTF-8 bytes: binary order, and any character.

CREATE TABLE users (
    id      text COLLATE "C" PRIMARY KEY,          -- canonical id: 64 lowercase hex characters
    name    text COLLATE "C" NOT NULL UNIQUE,
    created double precision NOT NULL
);

CREATE TABLE access_keys (
    access_key_id text COLLATE "C" PRIMARY KEY,
    user_id       text COLLATE "C" NOT NULL REFERENCES users (id),
    secret        bytea NOT NULL,                  -- nonce || AES-256-GCM(secret), AAD = key id
    status        text NOT NULL DEFAULT 'Active' CHECK (status IN ('Active', 'Inactive')),
    created       double precision NOT NULL
);
CREATE INDEX access_keys_by_user ON access_keys (user_id);

CREATE TABLE buckets (
    name       text COLLATE "C" PRIMARY KEY,
    owner_id   text COLLATE "C" NOT NULL REFERENCES users (id),
    created    double precision NOT NULL,
    region     text NOT NULL,
    acl        text NOT NULL DEFAULT 'private',
    versioning text NOT NULL DEFAULT ''            -- '', 'Enabled', 'Suspended'
);
CREATE INDEX buckets_by_owner ON buckets (owner_id, name);

-- One row per object version.
CREATE TABLE objects (
    bucket        text COLLATE "C" NOT NULL REFERENCES buckets (name),
    key           bytea NOT NULL,
    version_id    text COLLATE "C" NOT NULL DEFAULT 'null',
    is_latest     boolean NOT NULL DEFAULT true,
    delete_marker boolean NOT NULL DEFAULT false,
    size          bigint NOT NULL,
    etag          text NOT NULL,                   -- unquoted
    last_modified double precision NOT NULL,       -- epoch seconds, millisecond precision
    blobs         text NOT NULL,                   -- JSON list of {sha256, size, md5}
    headers       text NOT NULL DEFAULT '{}',
    user_meta     text NOT NULL DEFAULT '{}',
    checksums     text NOT NULL DEFAULT '{}',
    storage_class text NOT NULL DEFAULT 'STANDARD',
    owner_id      text COLLATE "C" NOT NULL DEFAULT '',
    corrupt       boolean NOT NULL DEFAULT false,
    PRIMARY KEY (bucket, key, version_id)
);
-- Listings walk the current version of each key in key order, seeking past common prefixes.
CREATE UNIQUE INDEX objects_current ON objects (bucket, key) WHERE is_latest;

-- A blob's reference count is refcount plus its pending rows in blob_deltas (the reference
-- ledger: commits append to it instead of updating a popular blob's row, which would make
-- them wait for each other; workers/meta/postgres/fold.py folds it into refcount).
CREATE TABLE blobs (
    sha256      text COLLATE "C" PRIMARY KEY,
    size        bigint NOT NULL,
    refcount    bigint NOT NULL CHECK (refcount >= 0),
    orphaned_at double precision                   -- set when the count reaches 0
);
CREATE INDEX blobs_orphans ON blobs (orphaned_at) WHERE refcount = 0;

CREATE TABLE blob_deltas (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- folding order
    sha256 text COLLATE "C" NOT NULL REFERENCES blobs (sha256) ON DELETE CASCADE,
    delta  bigint NOT NULL CHECK (delta <> 0),     -- references taken (+) or given back (-)
    at     double precision NOT NULL               -- when (orphan time if it reaches 0)
);
CREATE INDEX blob_deltas_by_blob ON blob_deltas (sha256);
