-- Orleans reminders (Microsoft.Orleans.Reminders.AdoNet 10.4.x) on PostgreSQL.
--
-- Implements the Orleans ADO.NET reminder-table query contract, so durable reminders survive
-- silo restarts and are shared by all silos of the service. Each reminder row has an integer
-- Version that Orleans uses as the reminder's ETag: an unregister succeeds only against the
-- version it read. Keys, @parameter names and result column names are fixed by the Orleans C#
-- code; table and index names are this project's own.
--
-- Note: the Orleans main branch also has cron/priority columns (@CronExpression, @NextDueUtc,
-- ...) for a different reminders package; the 10.4.2 provider binds none of them.
-- Idempotent: safe to run any number of times.

CREATE TABLE IF NOT EXISTS OrleansRemindersTable
(
    ServiceId    varchar(150)   NOT NULL,
    GrainId      varchar(512)   NOT NULL,
    ReminderName varchar(150)   NOT NULL,
    StartTime    timestamptz(3) NOT NULL,
    Period       bigint         NOT NULL,
    GrainHash    integer        NOT NULL,
    Version      integer        NOT NULL,

    CONSTRAINT PK_RemindersTable_ServiceId_GrainId_ReminderName PRIMARY KEY (ServiceId, GrainId, ReminderName)
);

-- Each silo reads the reminders of its slice of the (signed) grain-hash ring.
CREATE INDEX IF NOT EXISTS IX_RemindersTable_ServiceId_GrainHash
    ON OrleansRemindersTable (ServiceId, GrainHash);

INSERT INTO OrleansQuery (QueryKey, QueryText)
VALUES
(
    -- Params: ServiceId, GrainId, ReminderName, StartTime, Period (milliseconds; int or bigint),
    -- GrainHash. Result column read: Version (the new ETag).
    'UpsertReminderRowKey', $q$
    INSERT INTO OrleansRemindersTable AS r
        (ServiceId, GrainId, ReminderName, StartTime, Period, GrainHash, Version)
    VALUES
        (@ServiceId, @GrainId, @ReminderName, @StartTime, @Period, @GrainHash, 0)
    ON CONFLICT (ServiceId, GrainId, ReminderName) DO UPDATE
        SET StartTime = EXCLUDED.StartTime,
            Period = EXCLUDED.Period,
            GrainHash = EXCLUDED.GrainHash,
            Version = r.Version + 1
    RETURNING r.Version AS Version;
$q$
),
(
    -- Params: ServiceId, GrainId. Result columns read: GrainId, ReminderName, StartTime, Period, Version.
    'ReadReminderRowsKey', $q$
    SELECT GrainId, ReminderName, StartTime, Period, Version
    FROM OrleansRemindersTable
    WHERE ServiceId = @ServiceId
      AND GrainId = @GrainId;
$q$
),
(
    -- Params: ServiceId, GrainId, ReminderName. Same result columns.
    'ReadReminderRowKey', $q$
    SELECT GrainId, ReminderName, StartTime, Period, Version
    FROM OrleansRemindersTable
    WHERE ServiceId = @ServiceId
      AND GrainId = @GrainId
      AND ReminderName = @ReminderName;
$q$
),
(
    -- Params: ServiceId, BeginHash, EndHash (signed ints; used when BeginHash < EndHash).
    'ReadRangeRows1Key', $q$
    SELECT GrainId, ReminderName, StartTime, Period, Version
    FROM OrleansRemindersTable
    WHERE ServiceId = @ServiceId
      AND GrainHash > @BeginHash
      AND GrainHash <= @EndHash;
$q$
),
(
    -- Params: ServiceId, BeginHash, EndHash (the range wraps around: BeginHash >= EndHash).
    'ReadRangeRows2Key', $q$
    SELECT GrainId, ReminderName, StartTime, Period, Version
    FROM OrleansRemindersTable
    WHERE ServiceId = @ServiceId
      AND (GrainHash > @BeginHash OR GrainHash <= @EndHash);
$q$
),
(
    -- Params: ServiceId, GrainId, ReminderName, Version. Result: one column, >0 when deleted.
    'DeleteReminderRowKey', $q$
    WITH removed AS
    (
        DELETE FROM OrleansRemindersTable
        WHERE ServiceId = @ServiceId
          AND GrainId = @GrainId
          AND ReminderName = @ReminderName
          AND Version = @Version
        RETURNING 1
    )
    SELECT count(*)::integer AS RowsDeleted FROM removed;
$q$
),
(
    -- Params: ServiceId. No result read.
    'DeleteReminderRowsKey', $q$
    DELETE FROM OrleansRemindersTable WHERE ServiceId = @ServiceId;
$q$
)
ON CONFLICT (QueryKey) DO UPDATE
    SET QueryText = EXCLUDED.QueryText
    WHERE OrleansQuery.QueryText IS DISTINCT FROM EXCLUDED.QueryText;
