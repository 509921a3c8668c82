"""Data: split structures, image decoding and caching, view transforms, the synthetic world."""
