"""Throwaway servers that the integration tests start themselves, on 127.0.0.1 and free ports.

Each module is a pytest plugin (listed in `pytest_plugins` of `tests/conftest.py`) whose
session fixtures start a server on first use and stop it when the session ends.
"""
