"""Transaction scheduling: policies that order the mempool, features, models, workloads."""
