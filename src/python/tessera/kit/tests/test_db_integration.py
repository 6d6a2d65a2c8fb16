import asyncio

import asyncpg
import pytest

from tessera.kit import db, outbox

pytestmark = pytest.mark.integration


async def test_migrations_apply_once_even_when_replicas_start_together(postgres_dsn):
    pools = [await db.create_pool(postgres_dsn) for _ in range(3)]
    try:
        results = await asyncio.gather(*(db.apply_migrations(p, outbox.KIT_MIGRATIONS) for p in pools))
        assert sorted(len(r) for r in results) == [0, 0, 3]  # one replica applied all, the others nothing
        rows = await pools[0].fetch("SELECT component, version FROM schema_migrations ORDER BY version")
        assert [(r["component"], r["version"]) for r in rows] == [(outbox.KIT_MIGRATIONS, v) for v in (1, 2, 3)]
        assert await db.apply_migrations(pools[0], outbox.KIT_MIGRATIONS) == []
    finally:
        for pool in pools:
            await pool.close()


async def test_a_changed_applied_migration_is_refused(postgres_dsn):
    pool = await db.create_pool(postgres_dsn)
    try:
        await db.apply_migrations(pool, outbox.KIT_MIGRATIONS)
        await pool.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        with pytest.raises(db.MigrationError, match="changed after it was applied"):
            await db.apply_migrations(pool, outbox.KIT_MIGRATIONS)
    finally:
        await pool.close()


async def test_a_row_written_is_read_back(postgres_dsn):
    conn = await asyncpg.connect(postgres_dsn)
    try:
        await conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)")
        await conn.execute("INSERT INTO notes VALUES (1, 'hello')")
        assert await conn.fetchval("SELECT body FROM notes WHERE id = 1") == "hello"
    finally:
        await conn.close()
