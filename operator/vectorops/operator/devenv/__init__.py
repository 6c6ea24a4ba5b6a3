"""Local development environment: a real etcd + kube-apiserver and embedded backends."""
