"""The read-only web dashboard (`lprd serve`)."""
