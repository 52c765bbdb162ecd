"""Compute nodes: pure transformations."""
