"""Tests of daemon/runtime/ and what builds on it."""
