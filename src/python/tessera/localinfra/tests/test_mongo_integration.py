"""The local MongoDB-protocol server (FerretDB on the local PostgreSQL) filters through indexes, not scans."""

from __future__ import annotations

import uuid

import asyncpg
from pymongo import AsyncMongoClient

from tessera.kit.documents import Document
from tessera.localinfra import InfraEndpoints
from tessera.localinfra.mongo import DATABASE


async def test_filters_on_id_and_on_indexed_fields_are_served_by_an_index(infra: InfraEndpoints) -> None:
    database = f"test_{uuid.uuid4().hex[:12]}"
    client: AsyncMongoClient[Document] = AsyncMongoClient(infra.mongo_url)
    backend = await asyncpg.connect(f"{infra.postgres_dsn.rpartition('/')[0]}/{DATABASE}")
    try:
        # A collection and an index made after FerretDB started, as every service's are.
        summaries = client[database]["summaries"]
        await summaries.insert_many([{"_id": f"o-{n}", "customer_id": f"c-{n % 5}", "n": n} for n in range(50)])
        await summaries.create_index([("customer_id", 1), ("n", -1)])
        table = await backend.fetchval(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = $1"
            " AND tablename NOT LIKE '\\_ferretdb\\_%'",
            database,
        )
        # FerretDB's own query for `{field: value}` (internal/backends/postgresql/query.go), its field a parameter
        # as there, planned for its values (PostgreSQL's custom plan). Sequential scans off, as so small a table
        # would be scanned anyway: the plan then uses an index only if one serves the query.
        await backend.execute("SET enable_seqscan = off; SET plan_cache_mode = force_custom_plan")
        await backend.execute(f"PREPARE by_field(text, jsonb) AS SELECT _jsonb FROM {table} WHERE _jsonb->$1 @> $2")
        for field, value in (("_id", '"o-7"'), ("customer_id", '"c-2"')):
            plan = "\n".join(row[0] for row in await backend.fetch(f"EXPLAIN EXECUTE by_field('{field}', '{value}')"))
            assert "Bitmap Index Scan" in plan and "_gin" in plan, plan
        assert await summaries.find_one({"_id": "o-7"}) == {"_id": "o-7", "customer_id": "c-2", "n": 7}
        assert [d["n"] for d in await summaries.find({"customer_id": "c-2"}).sort("n", -1).to_list()] == list(
            range(47, 0, -5)
        )
    finally:
        await client.drop_database(database)
        await client.close()
        await backend.close()
