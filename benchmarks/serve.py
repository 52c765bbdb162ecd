"""Serve: `python -m <package> serve` throughput with one and with two processes, on Tansu.

`benchmarks/library/serve_throughput.py` starts a broker and the `serve` processes (one
consumer group, one SQLite database) per round, publishes metadata_stamping requests and
times until every outcome event is seen. No budget: the figure says how far a second
process helps on this machine (2 cores, shared with the broker and the client).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from .model import BenchContext, Comparison, Series
from .runtime import library_environ, run_script, samples

#: Requests per round, full and --quick.
REQUESTS, QUICK_REQUESTS = 400, 60


def serve_comparison(document: Mapping[str, Any], requests: int) -> Comparison:
    """Two processes (subject) against one (baseline), in requests per second."""
    two = Series("serve, 2 processes", samples(document, "2"), unit="ops/s")
    one = Series("serve, 1 process", samples(document, "1"), unit="ops/s")
    failed = document.get("failed", 0)
    return Comparison(
        area="serve",
        name="serve throughput, 2 processes vs 1 (requests/s)",
        subject=two,
        baseline=one,
        note=(
            f"{requests} metadata_stamping requests per round on Tansu, SQLite shared by the processes; "
            "ratio < 1 means the second process helps. Each request publishes six events with acks=all "
            "(four lifecycle events, the announcement, the outcome), one partition's requests in turn; "
            "two cores are shared by the processes, the broker and the client"
        ),
        extra={"speedup": two.median / one.median, "failed_requests": float(failed if isinstance(failed, int) else 0)},
    )


def run(ctx: BenchContext) -> Sequence[Comparison]:
    """One and two serve processes, `ctx.repeats` alternating rounds."""
    requests = QUICK_REQUESTS if ctx.quick else REQUESTS
    environ = library_environ(
        ctx, {"PYTHONPATH": os.pathsep.join([str(ctx.library / "src"), str(ctx.library / "tests")])}
    )
    ctx.log(f"serve: 1 and 2 processes, {requests} requests per round, {ctx.repeats} rounds")
    document = run_script(
        ctx,
        "serve_throughput.py",
        ["--work", str(ctx.work / "serve"), "--requests", str(requests), "--rounds", str(ctx.repeats)],
        environ=environ,
    )
    return [serve_comparison(document, requests)]
