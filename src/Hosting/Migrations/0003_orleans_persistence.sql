-- Orleans grain state (Microsoft.Orleans.Persistence.AdoNet 10.4.x) on PostgreSQL.
--
-- Implements the Orleans ADO.NET grain-storage query contract. Every grain state row carries an
-- integer Version that Orleans hands back as the grain's ETag; a write, clear or delete succeeds
-- only against the version it was computed from, so two activations of the same grain (e.g. in
-- a split brain) cannot silently overwrite each other: the loser gets InconsistentStateException.
-- All AddAdoNetGrainStorage providers share this table. Orleans 10 keys a row by ServiceId, the
-- *state name* (GrainTypeString) and the grain's key only - not the provider name and not the
-- grain class - so state names must be unique per grain class. Keys, @parameter names and result
-- column names are fixed by the Orleans C# code; table, index and function names are our own.
--
-- Note: the 10.4.2 provider binds only @PayloadBinary (no @PayloadJson/@PayloadXml as in older
-- Orleans scripts), so there are no JSON/XML payload columns.
-- Idempotent: safe to run any number of times.

CREATE TABLE IF NOT EXISTS OrleansStorage
(
    GrainIdHash            integer      NOT NULL,
    GrainIdN0              bigint       NOT NULL,
    GrainIdN1              bigint       NOT NULL,
    GrainTypeHash          integer      NOT NULL,
    GrainTypeString        varchar(512) NOT NULL,
    GrainIdExtensionString varchar(512) NULL,
    ServiceId              varchar(150) NOT NULL,
    PayloadBinary          bytea        NULL,
    ModifiedOn             timestamptz  NOT NULL DEFAULT now(),
    Version                integer      NOT NULL
);

-- At most one row per grain, so two first writes racing on the insert path cannot both win.
-- The strings are hashed to keep index entries small; NULLS NOT DISTINCT (PostgreSQL 15) makes a
-- missing key extension count as a value. Also serves every lookup below (leading columns).
CREATE UNIQUE INDEX IF NOT EXISTS UX_OrleansStorage_Grain
    ON OrleansStorage (GrainIdHash, GrainTypeHash, GrainIdN0, GrainIdN1, ServiceId,
                       md5(GrainTypeString), md5(GrainIdExtensionString))
    NULLS NOT DISTINCT;

-- Returns the grain's new version on success. On failure it returns the unchanged expected
-- version (stale ETag) or NULL (first write, but a row already exists); Orleans reads either as
-- a version conflict.
CREATE OR REPLACE FUNCTION orleans_storage_write(
    p_grain_id_hash          integer,
    p_grain_id_n0            bigint,
    p_grain_id_n1            bigint,
    p_grain_type_hash        integer,
    p_grain_type             text,
    p_grain_id_extension     text,
    p_service_id             text,
    p_expected_version       integer,
    p_payload                bytea)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_new_version integer;
BEGIN
    IF p_expected_version IS NOT NULL THEN
        UPDATE OrleansStorage
           SET PayloadBinary = p_payload,
               ModifiedOn = now(),
               Version = Version + 1
         WHERE GrainIdHash = p_grain_id_hash
           AND GrainTypeHash = p_grain_type_hash
           AND GrainIdN0 = p_grain_id_n0
           AND GrainIdN1 = p_grain_id_n1
           AND ServiceId = p_service_id
           AND GrainTypeString = p_grain_type
           AND GrainIdExtensionString IS NOT DISTINCT FROM p_grain_id_extension
           AND Version = p_expected_version
        RETURNING Version INTO v_new_version;

        RETURN COALESCE(v_new_version, p_expected_version);
    END IF;

    INSERT INTO OrleansStorage
        (GrainIdHash, GrainIdN0, GrainIdN1, GrainTypeHash, GrainTypeString,
         GrainIdExtensionString, ServiceId, PayloadBinary, ModifiedOn, Version)
    VALUES
        (p_grain_id_hash, p_grain_id_n0, p_grain_id_n1, p_grain_type_hash, p_grain_type,
         p_grain_id_extension, p_service_id, p_payload, now(), 1)
    ON CONFLICT DO NOTHING
    RETURNING Version INTO v_new_version;

    RETURN v_new_version;
END
$fn$;

INSERT INTO OrleansQuery (QueryKey, QueryText)
VALUES
(
    -- Params: GrainIdHash, GrainIdN0, GrainIdN1, GrainTypeHash, GrainTypeString,
    -- GrainIdExtensionString, ServiceId, GrainStateVersion (NULL on first write), PayloadBinary.
    -- Result column read: NewGrainStateVersion.
    'WriteToStorageKey', $q$
    SELECT orleans_storage_write(
        @GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash, @GrainTypeString,
        @GrainIdExtensionString, @ServiceId, @GrainStateVersion, @PayloadBinary) AS NewGrainStateVersion;
$q$
),
(
    -- Params: GrainIdHash, GrainIdN0, GrainIdN1, GrainTypeHash, GrainTypeString,
    -- GrainIdExtensionString, ServiceId. Result columns read: PayloadBinary, Version.
    -- A cleared grain still has its row (NULL payload) so its version keeps counting.
    'ReadFromStorageKey', $q$
    SELECT PayloadBinary, Version
    FROM OrleansStorage
    WHERE GrainIdHash = @GrainIdHash
      AND GrainTypeHash = @GrainTypeHash
      AND GrainIdN0 = @GrainIdN0
      AND GrainIdN1 = @GrainIdN1
      AND ServiceId = @ServiceId
      AND GrainTypeString = @GrainTypeString
      AND GrainIdExtensionString IS NOT DISTINCT FROM @GrainIdExtensionString;
$q$
),
(
    -- Params: as ReadFromStorageKey plus GrainStateVersion. Result: first column = new version;
    -- no row means the ETag was stale.
    'ClearStorageKey', $q$
    UPDATE OrleansStorage
       SET PayloadBinary = NULL,
           ModifiedOn = now(),
           Version = Version + 1
     WHERE GrainIdHash = @GrainIdHash
       AND GrainTypeHash = @GrainTypeHash
       AND GrainIdN0 = @GrainIdN0
       AND GrainIdN1 = @GrainIdN1
       AND ServiceId = @ServiceId
       AND GrainTypeString = @GrainTypeString
       AND GrainIdExtensionString IS NOT DISTINCT FROM @GrainIdExtensionString
       AND Version = @GrainStateVersion
    RETURNING Version AS NewGrainStateVersion;
$q$
),
(
    -- Optional key, used only with AdoNetGrainStorageOptions.DeleteStateOnClear = true.
    -- Params: as ClearStorageKey. Result: first column must differ from the old ETag on success
    -- (the version the row would have had next); no row means the ETag was stale.
    'DeleteStorageKey', $q$
    DELETE FROM OrleansStorage
     WHERE GrainIdHash = @GrainIdHash
       AND GrainTypeHash = @GrainTypeHash
       AND GrainIdN0 = @GrainIdN0
       AND GrainIdN1 = @GrainIdN1
       AND ServiceId = @ServiceId
       AND GrainTypeString = @GrainTypeString
       AND GrainIdExtensionString IS NOT DISTINCT FROM @GrainIdExtensionString
       AND Version = @GrainStateVersion
    RETURNING Version + 1 AS NewGrainStateVersion;
$q$
)
ON CONFLICT (QueryKey) DO UPDATE
    SET QueryText = EXCLUDED.QueryText
    WHERE OrleansQuery.QueryText IS DISTINCT FROM EXCLUDED.QueryText;
