"""The pure correlation core: a deterministic state machine driven by events and watermarks."""
