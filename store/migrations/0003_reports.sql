-- Scheduled balance reports. A report is claimed by its (name, instant)
-- row, inserted in the same transaction as its files and its pending
-- deliveries: that UNIQUE row is what makes each scheduled instant produce
-- exactly once across restarts, and keeping the files means a failed
-- delivery can always be retried and every archived report downloaded.
CREATE TABLE reports (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    instant      INTEGER NOT NULL, -- the period's end, Unix seconds
    from_instant INTEGER NOT NULL, -- the period's start (previous instant)
    manual       INTEGER NOT NULL DEFAULT 0 CHECK (manual IN (0, 1)),
    from_height  INTEGER NOT NULL,
    from_hash    BLOB    NOT NULL,
    from_time    INTEGER NOT NULL,
    to_height    INTEGER NOT NULL,
    to_hash      BLOB    NOT NULL,
    to_time      INTEGER NOT NULL,
    digest       TEXT    NOT NULL,
    produced_at  INTEGER NOT NULL,
    UNIQUE (name, instant)
) STRICT;

CREATE TABLE report_files (
    report_id    INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    data         BLOB    NOT NULL,
    PRIMARY KEY (report_id, name)
) STRICT;

-- The current state of each report's delivery to each target.
CREATE TABLE report_deliveries (
    report_id  INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    target     TEXT    NOT NULL, -- dir | email | webhook
    status     TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    permanent  INTEGER NOT NULL DEFAULT 0 CHECK (permanent IN (0, 1)), -- failed for good: not retried
    last_error TEXT    NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (report_id, target)
) STRICT;

-- Every delivery attempt, for operators and auditors.
CREATE TABLE report_delivery_attempts (
    id        INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL,
    target    TEXT    NOT NULL,
    n         INTEGER NOT NULL, -- attempt number within its round
    at        INTEGER NOT NULL,
    outcome   TEXT    NOT NULL CHECK (outcome IN ('delivered', 'error', 'permanent')),
    error     TEXT    NOT NULL DEFAULT '',
    FOREIGN KEY (report_id, target) REFERENCES report_deliveries (report_id, target) ON DELETE CASCADE
) STRICT;

-- When the scheduler first saw each report, so instants missed before the
-- first report was ever produced are still caught up.
CREATE TABLE report_schedules (
    name  TEXT    PRIMARY KEY,
    since INTEGER NOT NULL
) STRICT;
