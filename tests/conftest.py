"""Shared fixtures. Backend fixtures live in tests/decorator.py and tests/neo4j_server.py."""
