"""Training: ``Incremental``'s fold of ``partial_fit`` over blocks, its sources and callbacks."""
