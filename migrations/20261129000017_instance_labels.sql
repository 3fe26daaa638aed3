-- Labels (issue #16): an instance's owner-given labels, a JSON object of strings (`{}` for none); the
-- list filters on them from the cache.
ALTER TABLE instances ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
