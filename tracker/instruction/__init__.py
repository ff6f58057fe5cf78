"""The DGFiP side: the instruction list, assignment, and (later) dashboards, statistics and exports."""
