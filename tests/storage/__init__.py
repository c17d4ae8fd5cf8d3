"""Tests of daemon/storage/ and what builds on it."""
