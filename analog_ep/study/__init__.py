"""Studies: many ordinary runs plus a table (sweeps, comparisons, run tables, drift)."""
