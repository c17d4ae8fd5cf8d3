"""Tests of daemon/audio/ and what builds on it."""
