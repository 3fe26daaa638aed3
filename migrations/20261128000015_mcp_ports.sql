-- MCP (issue #14): an instance whose `type_instance` holds `mcp` serves its MCP server on a second port.
-- Every port an instance holds, its API port and its MCP port, is a row of `port_leases`: the primary key
-- keeps any two instances from sharing a port, across managers on one database and across restarts (a
-- UNIQUE on each column alone could not stop one bot's MCP port from being another's API port).
ALTER TABLE instances ADD COLUMN mcp_port BIGINT;
CREATE TABLE port_leases (
    port        BIGINT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    -- api, mcp
    purpose     TEXT NOT NULL
);
CREATE INDEX port_leases_instance ON port_leases (instance_id);
INSERT INTO port_leases (port, instance_id, purpose) SELECT port, id, 'api' FROM instances;
