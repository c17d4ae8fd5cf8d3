"""Tests of daemon/labels/ and what builds on it."""
