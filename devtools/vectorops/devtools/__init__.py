"""Development and test tools, never shipped with the operator: a local control plane (etcd +
kube-apiserver), a throwaway PostgreSQL, the Qdrant stand-in and `vectorops-dev`."""
