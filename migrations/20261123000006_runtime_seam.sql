-- The runtime seam: what the user asked for carries a revision, what the reconciler last acted on is
-- recorded beside it, and where each worker runs comes from the runtime.
ALTER TABLE instances ADD COLUMN placement TEXT NOT NULL DEFAULT '[]';
ALTER TABLE instances ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;
ALTER TABLE instances ADD COLUMN restart_revision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN deleting BIGINT NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN observed_revision BIGINT NOT NULL DEFAULT 1;
ALTER TABLE instances ADD COLUMN endpoint TEXT;
ALTER TABLE instances ADD COLUMN host_id TEXT;
