"""Tables and figures from result files, and the column catalogue they share."""
