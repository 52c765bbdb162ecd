"""The catalog of archetypal nodes, one package per archetype.

Nodes are found by `core.registry.discover_nodes`; add a node by adding a
`node_<name>_<archetype>.py` module to the right package.
"""
