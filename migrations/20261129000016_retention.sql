-- Retention (issue #16): what is kept is forgotten by age, in batches, by the time column of each kind of
-- record; these indexes let each batch find its oldest rows without reading the table.
CREATE INDEX messages_at ON messages (at);
CREATE INDEX status_history_at ON status_history (at);
CREATE INDEX instance_errors_at ON instance_errors (at);
CREATE INDEX settings_history_changed_at ON settings_history (changed_at);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at);
CREATE INDEX schedule_runs_finished ON schedule_runs (finished_at);
CREATE INDEX alerts_resolved ON alerts (resolved_at);
