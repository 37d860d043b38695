//! RocketMQ client library: producer, push consumer, pull consumer and admin calls.
