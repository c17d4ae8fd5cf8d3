"""One module per `lprd` command; each exposes `register(subparsers)`."""
