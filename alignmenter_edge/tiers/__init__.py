"""One module per tier. Heavy tiers import their dependencies lazily, at load time."""
