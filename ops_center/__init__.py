"""The city operations center in layers, lowest first: core, store, service, read, web; wiring on top (docs/ARCHITECTURE.md)."""
