"""Reducer nodes: state and intents, no I/O."""
