"""Effect nodes: the only nodes that do I/O."""
