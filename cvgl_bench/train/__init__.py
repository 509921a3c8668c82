"""The training toolkit every method plugin composes.

Nothing here knows a method by name. The parts, one module each:

- :mod:`.context`      :class:`RunContext`, what the runner hands to ``Method.fit``
- :mod:`.losses`       symmetric InfoNCE (label smoothing, learnable scale), SAFA's weighted
                       soft-margin triplet loss; both compute a *local* loss over gathered features
- :mod:`.samplers`     batch plans: random, GPS neighbours, Dynamic Similarity Sampling; never two
                       samples of one location in a batch
- :mod:`.augment`      paired augmentation (flip both, rotate satellite = roll panorama) and
                       per-view photometric augmentation, deterministic per sample
- :mod:`.pairs`        the torch ``Dataset`` of training pairs over decoded image arrays
- :mod:`.encoders`     a timm two-view encoder (shared or per-view backbone, avg-pool + LayerNorm)
- :mod:`.trainer`      AdamW, warm-up + cosine per iteration, AMP, clipping, checkpoints, resume
- :mod:`.base`         :class:`ContrastiveMethod`, a ``Method`` assembled from the parts above

Process groups (torchrun / Slurm, gather with gradient, row sharding) are
:mod:`cvgl_bench.distributed`, below both this package and :mod:`cvgl_bench.evaluate`. Import the
submodules you need; this package imports nothing heavy on its own.
"""
