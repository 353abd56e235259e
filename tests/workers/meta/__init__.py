"""Tests of the meta process: the MetaStore conformance suite and the SQLite engine."""
