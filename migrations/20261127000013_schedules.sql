-- Scheduled messages: a schedule says what to send where and when (a cron pattern, days of the week at
-- a time, or one instant, in an IANA time zone); each due time it reaches becomes one run. The run's
-- primary key (schedule_id, due_at) is what makes a due time run once across restarts: the scheduler
-- inserts the run before it asks the worker to send, and only the inserter sends.
CREATE TABLE schedules (
    id          TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    name        TEXT,
    chat_id     TEXT NOT NULL,
    message     TEXT NOT NULL,
    -- Exactly one form: `cron` (the pattern as given), `days` + `time_of_day` (days comma-separated,
    -- empty for every day; `HH:MM[:SS]`), or `at` (unix ms, a one-off).
    cron        TEXT,
    days        TEXT,
    time_of_day TEXT,
    at          BIGINT,
    timezone    TEXT NOT NULL,
    starts_at   BIGINT,
    ends_at     BIGINT,
    enabled     BIGINT NOT NULL,
    -- send_late or skip
    missed      TEXT NOT NULL,
    grace_secs  BIGINT NOT NULL,
    -- The next due time the scheduler has not taken yet; NULL when there is none (disabled, ended, a
    -- one-off that ran).
    next_due_at BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX schedules_instance ON schedules (instance_id, created_at);
CREATE INDEX schedules_due ON schedules (next_due_at);

CREATE TABLE schedule_runs (
    schedule_id     TEXT NOT NULL,
    -- The occurrence, unix ms.
    due_at          BIGINT NOT NULL,
    instance_id     TEXT NOT NULL,
    -- What is sent, as the schedule said when the run was taken (a retry sends the same).
    chat_id         TEXT NOT NULL,
    message         TEXT NOT NULL,
    -- pending, sent, failed, skipped_late, skipped_paused, skipped
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    -- While pending: when it is tried (again). A run being sent holds a lease this far ahead.
    next_attempt_at BIGINT,
    -- The last moment it may still be sent (due time plus the grace it was taken with).
    send_until      BIGINT NOT NULL,
    message_id      TEXT,
    reason          TEXT,
    -- Earlier due times that passed unsent while the manager or the bot was down.
    superseded      BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT,
    PRIMARY KEY (schedule_id, due_at)
);
CREATE INDEX schedule_runs_pending ON schedule_runs (status, next_attempt_at);
CREATE INDEX schedule_runs_instance ON schedule_runs (instance_id);
