"""One module per workflow stage; one function per kind of job, on explicit paths and parameters."""
