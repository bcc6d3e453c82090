"""The queue workloads of `strata bench queue`, run by two PostgreSQL-backed Python job queues
the way their documentation shows: pgqueuer (asyncpg) and procrastinate (psycopg 3).

Workloads, each printing one JSON line {"workload", "operations", "seconds", "p50_ms", "p99_ms"}:
- setup: install the peer's schema in the given (scratch) database;
- enqueue: `count` single enqueues from `concurrency` concurrent callers, each its own statement;
- enqueue.batch: `count` jobs enqueued 100 per call by `concurrency` callers;
- e2e: `count` no-op jobs already enqueued, drained by one worker with `concurrency` slots;
- latency: jobs enqueued at `rate` per second for `seconds` while a worker runs; each job carries
  the wall-clock time its enqueue began, and the handler records the delay to its start.

The password comes from PGPASSWORD, never the command line.
"""

import argparse
import asyncio
import json
import time

QUEUE = "bench"


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def emit(workload: str, operations: int, seconds: float, latencies: list[float] | None = None) -> None:
    latencies = latencies or []
    print(
        json.dumps(
            {
                "workload": workload,
                "operations": operations,
                "seconds": seconds,
                "p50_ms": percentile(latencies, 0.5),
                "p99_ms": percentile(latencies, 0.99),
            }
        ),
        flush=True,
    )


async def concurrently(count: int, concurrency: int, operation) -> tuple[float, list[float]]:
    """Runs `operation(i)` `count` times from `concurrency` tasks; returns seconds and latencies (ms)."""
    latencies: list[float] = []
    next_index = 0

    async def caller() -> None:
        nonlocal next_index
        while next_index < count:
            index = next_index
            next_index += 1
            began = time.perf_counter()
            await operation(index)
            latencies.append((time.perf_counter() - began) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


async def paced(rate: int, seconds: int, operation) -> None:
    interval = 1 / rate
    deadline = time.perf_counter()
    for index in range(rate * seconds):
        deadline += interval
        await operation(index)
        delay = deadline - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)


async def wait_until(condition, timeout: float = 120) -> None:
    limit = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > limit:
            raise TimeoutError("the peer's worker did not finish in time")
        await asyncio.sleep(0.01)


# --- pgqueuer -------------------------------------------------------------------------------


async def pgqueuer_run(args) -> None:
    import asyncpg
    from pgqueuer import AsyncpgDriver, AsyncpgPoolDriver, QueueManager, Queries
    from pgqueuer.types import QueueExecutionMode

    dsn = dict(host=args.host, port=args.port, user=args.user, database=args.database)
    pool = await asyncpg.create_pool(min_size=args.concurrency, max_size=args.concurrency, **dsn)
    queries = Queries(AsyncpgPoolDriver(pool))

    async def enqueue_one(_: int, payload: bytes = b"{}") -> None:
        await queries.enqueue(QUEUE, payload)

    async def enqueue_many(count: int) -> None:
        await queries.enqueue([QUEUE] * count, [b"{}"] * count, [0] * count)

    async def worker(handler, mode):
        connection = await asyncpg.connect(**dsn)
        manager = QueueManager(Queries(AsyncpgDriver(connection)))

        @manager.entrypoint(QUEUE)
        async def run(job) -> None:
            handler(job.payload)

        return manager, connection, manager.run(mode=mode)

    if args.workload != "setup":
        await queries.clear_queue()
    if args.workload == "setup":
        await queries.install()
    elif args.workload == "enqueue":
        seconds, latencies = await concurrently(args.count, args.concurrency, enqueue_one)
        emit("enqueue", args.count, seconds, latencies)
    elif args.workload == "enqueue.batch":
        batches = max(1, args.count // 100)
        seconds, latencies = await concurrently(batches, args.concurrency, lambda _: enqueue_many(100))
        emit("enqueue.batch", batches * 100, seconds, latencies)
    elif args.workload == "e2e":
        for _ in range(max(1, args.count // 500)):
            await enqueue_many(500)
        total = max(1, args.count // 500) * 500
        done = 0

        def count(_: bytes) -> None:
            nonlocal done
            done += 1

        manager, connection, running = await worker(count, QueueExecutionMode.drain)
        started = time.perf_counter()
        await running
        seconds = time.perf_counter() - started
        await connection.close()
        emit("e2e", done, seconds)
    elif args.workload == "latency":
        latencies: list[float] = []

        def record(payload: bytes) -> None:
            latencies.append(time.time() * 1000 - json.loads(payload)["t"])

        manager, connection, running = await worker(record, QueueExecutionMode.continuous)
        task = asyncio.create_task(running)
        await asyncio.sleep(0.5)
        total = args.rate * args.seconds
        await paced(args.rate, args.seconds, lambda _: enqueue_one(0, json.dumps({"t": time.time() * 1000}).encode()))
        await wait_until(lambda: len(latencies) >= total)
        manager.shutdown.set()
        await task
        await connection.close()
        emit("latency", total, float(args.seconds), latencies)
    await pool.close()


# --- procrastinate --------------------------------------------------------------------------


async def procrastinate_run(args) -> None:
    import procrastinate

    conninfo = f"host={args.host} port={args.port} user={args.user} dbname={args.database}"
    connector = procrastinate.PsycopgConnector(conninfo=conninfo, min_size=args.concurrency, max_size=args.concurrency)
    app = procrastinate.App(connector=connector)
    state = {"done": 0, "latencies": []}

    @app.task(queue=QUEUE, name="noop")
    async def noop(t: float | None = None) -> None:
        if t is not None:
            state["latencies"].append(time.time() * 1000 - t)
        state["done"] += 1

    async with app.open_async():
        if args.workload != "setup":
            await connector.execute_query_async("DELETE FROM procrastinate_jobs")
        if args.workload == "setup":
            await app.schema_manager.apply_schema_async()
        elif args.workload == "enqueue":
            seconds, latencies = await concurrently(args.count, args.concurrency, lambda _: noop.defer_async())
            emit("enqueue", args.count, seconds, latencies)
        elif args.workload == "enqueue.batch":
            batches = max(1, args.count // 100)
            seconds, latencies = await concurrently(batches, args.concurrency, lambda _: noop.batch_defer_async(*([{}] * 100)))
            emit("enqueue.batch", batches * 100, seconds, latencies)
        elif args.workload == "e2e":
            for _ in range(max(1, args.count // 500)):
                await noop.batch_defer_async(*([{}] * 500))
            started = time.perf_counter()
            await app.run_worker_async(queues=[QUEUE], concurrency=args.concurrency, wait=False, install_signal_handlers=False)
            emit("e2e", state["done"], time.perf_counter() - started)
        elif args.workload == "latency":
            worker = asyncio.create_task(
                app.run_worker_async(queues=[QUEUE], concurrency=args.concurrency, wait=True, install_signal_handlers=False)
            )
            await asyncio.sleep(0.5)
            total = args.rate * args.seconds
            await paced(args.rate, args.seconds, lambda _: noop.defer_async(t=time.time() * 1000))
            await wait_until(lambda: len(state["latencies"]) >= total)
            worker.cancel()
            try:
                await worker
            except asyncio.CancelledError:
                pass
            emit("latency", total, float(args.seconds), state["latencies"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--system", choices=["pgqueuer", "procrastinate"], required=True)
    parser.add_argument("--workload", choices=["setup", "enqueue", "enqueue.batch", "e2e", "latency"], required=True)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--database", required=True)
    args = parser.parse_args()
    run = pgqueuer_run if args.system == "pgqueuer" else procrastinate_run
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
