//! Kubernetes operator for RocketMQCluster resources, and the local mode that runs the same cluster.yaml as processes.
