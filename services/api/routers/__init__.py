"""One router per resource: runs, sweeps, workers, comparisons, health."""
