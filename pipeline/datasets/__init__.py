"""Built-in data sets the project can make from nothing (for the demo and for tests)."""
