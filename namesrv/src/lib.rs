//! The name server: a stateless route registry brokers register with.
