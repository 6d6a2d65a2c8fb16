"""asyncpg pools, and versioned SQL migrations applied at start.

Migrations are `NNNN_description.sql` files inside a Python package (shipped as Pants `resources`). They are
applied in order, each in its own transaction, under a Postgres advisory lock so that replicas starting together
do not race; an applied file whose content changed is an error, never silently re-run.

Hand-written on purpose: the maintained tools are either synchronous and SQLAlchemy-bound (alembic, yoyo) or
unmaintained; this needs ~60 lines on asyncpg and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import asyncpg
import grpc
from asyncpg.pool import PoolConnectionProxy
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from tessera.kit import grpc_errors
from tessera.kit.logs import get_logger

log = get_logger(__name__)

_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x7E55E7A  # advisory lock id for the migration runner


# Errors that mean "the database is away for now" (restarting, failing over, network): worth waiting out.
# asyncpg's pool replaces broken connections on the next acquire, so a retry after them is a fresh connection.
OUTAGE_ERRORS = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now (starting up)
    # Seen when the server goes away while a pooled connection is mid-protocol ("cannot switch to state 12; another
    # operation is in progress"): that connection is broken and the pool drops it, so a retry gets a fresh one.
    asyncpg.InternalClientError,
)
# Errors of a value the caller sent, found by Postgres (class 22, data exception): a NUL in text, a number out of
# range, an invalid encoding. A bad request, not a failure of the service.
INPUT_ERRORS = (asyncpg.DataError,)

# The database away (restarting, failing over) is a retryable UNAVAILABLE, not an internal error; a value it cannot
# hold (a NUL character in text, an out-of-range number) is the caller's input.
grpc_errors.register_infrastructure(
    OUTAGE_ERRORS, grpc.StatusCode.UNAVAILABLE, "a backing store is unavailable", "database unavailable during RPC"
)
grpc_errors.register_infrastructure(
    INPUT_ERRORS,
    grpc.StatusCode.INVALID_ARGUMENT,
    "the request holds a value that cannot be stored (e.g. a NUL character)",
    "request value refused by the database",
)


async def ensure_database(admin_dsn: str, name: str) -> str:
    """Creates database `name` on the server of `admin_dsn` unless it exists; returns its DSN."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # created meanwhile by someone else
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{admin_dsn.rpartition('/')[0]}/{name}"


def is_outage(error: BaseException) -> bool:
    """Whether an error says PostgreSQL is away for now."""
    return isinstance(error, OUTAGE_ERRORS)


def retrying_through_outages(
    max_seconds: float = 120.0, outage: Callable[[BaseException], bool] = is_outage
) -> AsyncRetrying:
    """For work that must not be dropped (a consumed event): retries it, with jittered backoff, while the
    database is unreachable (`outage`: whether an error says so; PostgreSQL's errors by default, kit.documents has
    the document store's). Usage: `async for attempt in retrying_through_outages(): with attempt: ...`."""
    return AsyncRetrying(
        retry=retry_if_exception(outage),
        wait=wait_exponential_jitter(initial=0.1, max=2.0),
        stop=stop_after_delay(max_seconds),
        reraise=True,
        before_sleep=lambda state: log.warning(
            "database unavailable; retrying",
            attempt=state.attempt_number,
            error=str(state.outcome.exception()) if state.outcome else "",
        ),
    )


# What a pooled `acquire()` yields and what `connect()` returns: both run queries the same way.
Connection = asyncpg.Connection | PoolConnectionProxy


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    component: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(package: str) -> list[Migration]:
    """Reads the package's NNNN_name.sql files, in version order."""
    found = []
    for entry in resources.files(package).iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match:
            found.append(Migration(package, int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {package}: {versions}")
    if not found:
        raise MigrationError(f"no migrations found in package {package}")
    return found


async def apply_migrations(pool: asyncpg.Pool, *packages: str) -> list[Migration]:
    """Applies what is not applied yet; returns what it applied."""
    applied_now: list[Migration] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
                       component text NOT NULL,
                       version int NOT NULL,
                       name text NOT NULL,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now(),
                       PRIMARY KEY (component, version))""")
            for package in packages:
                rows = await conn.fetch("SELECT version, checksum FROM schema_migrations WHERE component = $1", package)
                done = {r["version"]: r["checksum"] for r in rows}
                for migration in load_migrations(package):
                    if migration.version in done:
                        if done[migration.version] != migration.checksum:
                            raise MigrationError(
                                f"{package} migration {migration.version} ({migration.name}) changed after it "
                                "was applied; add a new migration instead"
                            )
                        continue
                    async with conn.transaction():
                        await conn.execute(migration.sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations (component, version, name, checksum) "
                            "VALUES ($1, $2, $3, $4)",
                            package,
                            migration.version,
                            migration.name,
                            migration.checksum,
                        )
                    applied_now.append(migration)
                    log.info("migration applied", component=package, version=migration.version, name=migration.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def _reset(conn: asyncpg.Connection) -> None:
    """What a connection needs before it goes back to the pool: no open transaction.

    asyncpg's default reset sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on every
    release: one more round trip per use, which the profile showed as a tenth of a service's CPU. The kit never
    leaves session state on a pooled connection (no SET, cursors or held locks; the outbox relay unlistens and
    unlocks its leader connection itself before releasing it), so only a transaction left open needs undoing.
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, command_timeout=30, reset=_reset)
    if pool is None:  # only None when called without awaiting; keeps the type checker honest
        raise RuntimeError("asyncpg.create_pool returned no pool")
    return pool
