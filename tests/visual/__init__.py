"""Tests of daemon/visual/ and what builds on it."""
