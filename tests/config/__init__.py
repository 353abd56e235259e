"""Tests of alexanderd.config."""
