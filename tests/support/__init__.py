"""Helpers the tests share: media factories, daemon processes, servers, the browser."""
