"""Tests of daemon/learn/ and what builds on it."""
