//! The broker's storage engine: commit log, consume queues, index, flush, recovery, retention.
