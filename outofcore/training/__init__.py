"""The training layer: how estimators learn over blocks, one chain or many replicas at a time."""
