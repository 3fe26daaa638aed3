-- The bot platform (issue #13): a paused flag and the configuration's revision in the spec, and in the
-- status the revision of the configuration the worker acknowledged (configuration changes reach a running worker over its control
-- channel, without a new container). `agno_config` now holds the whole bot configuration (seed 003's
-- fields); rows written before keep the seed's names, which are read as aliases.
ALTER TABLE instances ADD COLUMN paused BIGINT NOT NULL DEFAULT 0;
-- Bumped by every change of the bot configuration or of `paused`.
ALTER TABLE instances ADD COLUMN config_revision BIGINT NOT NULL DEFAULT 1;
ALTER TABLE instance_status ADD COLUMN applied_config_revision BIGINT;
