"""A MongoDB-protocol server on 127.0.0.1: FerretDB v1, keeping its documents in a database of the local PostgreSQL.

No MongoDB server can be installed here (Debian, PyPI and npm carry none), but FerretDB (Apache-2.0) speaks
MongoDB's wire protocol on top of PostgreSQL and builds from its Go module. The services use only the protocol,
so a real MongoDB takes its place by URL (TESSERA_MONGO_URL), unchanged.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import ClassVar

from tessera.localinfra.goprograms import GoProgram
from tessera.localinfra.process import LocalServer, free_port

FERRETDB_VERSION = "v1.24.2"
FERRETDB = GoProgram(
    name="ferretdb",
    module="github.com/FerretDB/FerretDB",
    version=FERRETDB_VERSION,
    package="github.com/FerretDB/FerretDB/cmd/ferretdb",
    # Its release build writes its version here (`task gen-version`); a build without it panics at start.
    generated={"build/version/version.txt": f"{FERRETDB_VERSION}\n", "build/version/package.txt": "tessera\n"},
)
DATABASE = "ferretdb"  # FerretDB's own PostgreSQL database: a schema in it per MongoDB database
# FerretDB v1 filters a field by JSON containment (`_jsonb->'field' @> $2`, in its internal/backends/postgresql/
# query.go), which the btree indexes it makes (on `_jsonb->'field'`) cannot serve: every update by `_id` and every
# read by customer scans its whole collection, at a cost that grows with it. A GIN index on the same expression
# serves containment. This event trigger, installed in FerretDB's database before FerretDB starts, gives every index
# FerretDB makes on a top-level field (`_id_` with each collection, then the services' own) a GIN twin on that field,
# and the sweep after it the indexes already there. FerretDB does not know of the twins (they are not in its
# metadata); they go with their table. Shared with the Compose stack's PostgreSQL (tools/compose.py).
FILTER_INDEX_SQL = r"""
CREATE OR REPLACE FUNCTION tessera_serve_ferretdb_filter(btree regclass) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  name text;
  tbl regclass;
  field text;
BEGIN
  SELECT c.relname, i.indrelid::regclass, pg_get_indexdef(i.indexrelid, 1, true) INTO name, tbl, field
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
    WHERE i.indexrelid = btree AND am.amname = 'btree' AND i.indexprs IS NOT NULL;
  IF field ~ '^\(_jsonb -> ''[^'']+''::text\)$' AND name NOT LIKE '\_ferretdb\_%' THEN
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s USING gin (%s jsonb_path_ops)',
                   left(name, 50) || '_' || left(md5(name), 8) || '_gin', tbl, field);
  END IF;
END $$;

CREATE OR REPLACE FUNCTION tessera_serve_new_ferretdb_filters() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE
  created record;
BEGIN
  FOR created IN SELECT objid FROM pg_event_trigger_ddl_commands() WHERE object_type = 'index' LOOP
    PERFORM tessera_serve_ferretdb_filter(created.objid::regclass);
  END LOOP;
END $$;

DROP EVENT TRIGGER IF EXISTS tessera_serve_new_ferretdb_filters;
CREATE EVENT TRIGGER tessera_serve_new_ferretdb_filters ON ddl_command_end WHEN TAG IN ('CREATE INDEX')
  EXECUTE FUNCTION tessera_serve_new_ferretdb_filters();

SELECT tessera_serve_ferretdb_filter(i.indexrelid::regclass) FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast');
"""


def answers(url: str, timeout_ms: int = 1000) -> bool:
    """Whether a MongoDB-protocol server answers a ping at `url`."""
    # Imported here, as the kit below: `tessera.localinfra` is imported by tools run with a bare Python (the image
    # builder's docker shim), which has none of the platform's libraries.
    import pymongo
    from pymongo.errors import PyMongoError

    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
    )
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


async def prepare_backend(admin_dsn: str) -> str:
    """Creates FerretDB's database (if absent) with the indexes its filters need (FILTER_INDEX_SQL); its DSN."""
    import asyncpg

    from tessera.kit.db import ensure_database

    backend = await ensure_database(admin_dsn, DATABASE)
    conn = await asyncpg.connect(backend)
    try:
        await conn.execute(FILTER_INDEX_SQL)
    finally:
        await conn.close()
    return backend


@dataclass
class FerretDBServer(LocalServer):
    postgres_dsn: str  # a superuser DSN of the PostgreSQL server to keep the documents on
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"

    name: ClassVar[str] = "FerretDB"
    log_name: ClassVar[str] = "ferretdb.log"

    @property
    def url(self) -> str:
        return f"mongodb://{self.host}:{self.port}/"

    def start(self, timeout: float = 60.0) -> float:
        """Starts FerretDB (PostgreSQL must be up) and waits until it answers; returns the seconds it took."""
        program = FERRETDB.path()
        backend = asyncio.run(prepare_backend(self.postgres_dsn))
        return self._run(
            [
                str(program),
                f"--listen-addr={self.host}:{self.port}",
                "--handler=postgresql",
                # Its pool (50 by default) bounds the writes in flight: each write of a command holds a connection
                # until the command ends (see projections.projectors.OPS_PER_COMMAND).
                f"--postgresql-url={backend}?pool_max_conns=100",
                f"--state-dir={self.base_dir}",
                "--debug-addr=-",  # its metrics/pprof listener would take a fixed port (8088)
                "--telemetry=disable",
                "--log-level=warn",
            ],
            ready=lambda: answers(self.url),
            timeout=timeout,
        )
