"""Orchestrator nodes: workflows over the other nodes."""
