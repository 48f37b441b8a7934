"""kplan's command line: the thin shell that wires planner and executor together."""
