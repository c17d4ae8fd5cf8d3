"""Tests of daemon/web/ and what builds on it."""
