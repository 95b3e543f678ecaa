"""The exposure graph: the backend interface and its in-memory and Neo4j backends."""
