"""Tests of the systemd unit files."""
