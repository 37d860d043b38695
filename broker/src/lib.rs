//! The broker: send, pull, offsets, groups, retry, delay, transactions, replication.
