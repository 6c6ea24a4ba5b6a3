"""Pure functions from observations to status: conditions and minimal status patches."""
