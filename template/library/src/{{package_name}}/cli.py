"""The command line: `nodes` lists the catalog, `intents` their routes, `health` checks every component."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from .core.container import OnexContainer
from .core.errors import OnexError
from .core.health import EnumHealthStatus, ModelHealthReport
from .core.registry import discover_nodes, intent_routes


def _print(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def command_nodes(_args: argparse.Namespace) -> int:
    """Print the catalog: name, archetype, class and one line each."""
    descriptors = discover_nodes()
    width = max((len(d.name) for d in descriptors), default=4)
    for d in descriptors:
        _print(f"{d.name:<{width}}  {d.archetype.value:<12}  {d.node_class.__name__:<28}  {d.summary}")
    return 0


def command_intents(_args: argparse.Namespace) -> int:
    """Print each intent type and the effect node that carries it out."""
    routes = intent_routes()
    width = max((len(intent_type) for intent_type in routes), default=6)
    for intent_type, node_class in sorted(routes.items()):
        _print(f"{intent_type:<{width}}  {node_class.node_name:<12}  {node_class.__name__}")
    return 0


async def check_health() -> ModelHealthReport:
    """Start every node in a fresh container and run all health checks."""
    async with OnexContainer() as container:
        for descriptor in discover_nodes():
            try:
                await container.start_node(descriptor.node_class)
            except OnexError:
                # A node that cannot start is reported by its health check below.
                container.node(descriptor.node_class)
        return await container.health.run()


def command_health(args: argparse.Namespace) -> int:
    """Print component health; exit 1 when the library is unhealthy."""
    report = asyncio.run(check_health())
    if args.json:
        _print(report.model_dump_json(indent=2))
    else:
        for component in report.components:
            kind = "critical" if component.critical else "optional"
            line = f"{component.status.value:<9}  {component.name:<24}  {kind:<8}  {component.latency_ms:7.1f} ms"
            _print(line + (f"  {component.error}" if component.error else ""))
        _print(f"overall: {report.status.value}")
    return 1 if report.status is EnumHealthStatus.UNHEALTHY else 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the command line."""
    parser = argparse.ArgumentParser(prog=__package__, description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("nodes", help="list the catalog of nodes").set_defaults(func=command_nodes)
    commands.add_parser("intents", help="list intent types and the nodes that carry them out").set_defaults(
        func=command_intents
    )
    health = commands.add_parser("health", help="check every component; exit 1 when unhealthy")
    health.add_argument("--json", action="store_true", help="print the report as JSON")
    health.set_defaults(func=command_health)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line."""
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code
