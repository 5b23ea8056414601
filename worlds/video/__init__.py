"""Video world: episodes of frames and actions (RLVR-World domain 3)."""
