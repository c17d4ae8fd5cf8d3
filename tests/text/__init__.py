"""Tests of daemon/text/ and what builds on it."""
