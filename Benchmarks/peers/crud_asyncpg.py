"""The CRUD workloads of `strata bench crud`, written the way a FastAPI + asyncpg service would
run them: one asyncpg pool of N connections, N concurrent tasks, one statement per operation
(asyncpg prepares and caches statements itself). Each release of a connection sends asyncpg's
default reset query (`Connection.get_reset_query()`), as it does in such a service. Prints one
JSON line per workload.

The password comes from PGPASSWORD, never the command line.
"""

import argparse
import asyncio
import datetime
import json
import os
import time
import uuid

import asyncpg

TABLE = "strata_bench.anomalies_asyncpg"


def details(index: int) -> str:
    return (
        '{"sensor":"S-%d","reading":%s,"threshold":75.5,"unit":"celsius","operator":"op-%d","shift":"night",'
        '"batch":"B-2026-%d","notes":"temperature drift detected on spindle during cycle; coolant flow nominal; '
        'vibration within limits","images":2,"confirmed":true}'
        % (index % 97, (index % 1000) / 10, index % 13, index % 365)
    )


async def setup(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as connection:
        await connection.execute("CREATE SCHEMA IF NOT EXISTS strata_bench")
        await connection.execute(f"DROP TABLE IF EXISTS {TABLE}")
        await connection.execute(
            f"""CREATE TABLE {TABLE} (
                anomaly_id uuid PRIMARY KEY, line_id text NOT NULL, station_id text NOT NULL, title text NOT NULL,
                status text NOT NULL DEFAULT 'open', severity text NOT NULL, detected_at timestamptz NOT NULL,
                details jsonb NOT NULL, tags text[] NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())"""
        )


async def run(pool: asyncpg.Pool, workload: str, count: int, concurrency: int) -> dict:
    if workload == "insert":
        ids = [uuid.uuid4() for _ in range(count)]
    else:
        async with pool.acquire() as connection:
            ids = [row[0] for row in await connection.fetch(f"SELECT anomaly_id FROM {TABLE}")]
    severities = ["low", "medium", "high", "critical"]
    statuses = ["acknowledged", "investigating", "resolved"]
    insert_sql = (
        f"INSERT INTO {TABLE} (anomaly_id, line_id, station_id, title, severity, detected_at, details, tags) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)"
    )
    read_sql = (
        "SELECT anomaly_id, line_id, station_id, title, status, severity, detected_at, details::text, tags, "
        f"created_at, updated_at FROM {TABLE} WHERE anomaly_id = $1"
    )
    update_sql = f"UPDATE {TABLE} SET status = $1, updated_at = now() WHERE anomaly_id = $2"
    counter = iter(range(count))
    latencies: list[float] = []

    async def worker() -> None:
        local = []
        for index in counter:
            start = time.perf_counter()
            async with pool.acquire() as connection:
                if workload == "insert":
                    await connection.execute(
                        insert_sql, ids[index], f"L-{index % 20}", f"ST-{index % 200}",
                        f"Spindle temperature above threshold #{index}", severities[index % 4],
                        datetime.datetime.now(datetime.timezone.utc), details(index),
                        ["thermal", f"line-{index % 20}", "auto"],
                    )
                elif workload == "read":
                    row = await connection.fetchrow(read_sql, ids[(index * 7919) % len(ids)])
                    assert row is not None
                else:
                    await connection.execute(update_sql, statuses[index % 3], ids[(index * 104729) % len(ids)])
            local.append((time.perf_counter() - start) * 1000)
        latencies.extend(local)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    latencies.sort()

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))]

    return {"workload": f"crud.{workload}", "operations": count, "seconds": seconds,
            "ops_per_s": count / seconds, "p50_ms": percentile(0.5), "p99_ms": percentile(0.99)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workload", choices=["setup", "insert", "read", "update"], required=True)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--database", required=True)
    args = parser.parse_args()
    pool = await asyncpg.create_pool(
        host=args.host, port=args.port, user=args.user, password=os.environ.get("PGPASSWORD"),
        database=args.database, min_size=args.concurrency, max_size=args.concurrency,
    )
    try:
        if args.workload == "setup":
            await setup(pool)
            print(json.dumps({"workload": "setup"}))
        else:
            print(json.dumps(await run(pool, args.workload, args.count, args.concurrency)))
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
