"""lprd storage: ORM models, sessions, guarded state transitions and artifact files."""
