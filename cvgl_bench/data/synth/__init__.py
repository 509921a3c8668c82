"""A procedural synthetic cross-view world, rendered in numpy and written in the real layouts.

The embedded default benchmark of cvgl-bench: towns of several styles on a height field
(streets, buildings, trees, water, parking lots), photographed from the ground (360-degree
panoramas), from drones (oblique views circling a building) and from satellites
(orthographic tiles), then laid out exactly like CVUSA, CVACT, VIGOR and University-1652 so
the real loaders read them.

Entry points: :func:`cvgl_bench.data.synth.generate.generate` (a dataset into a folder),
:func:`cvgl_bench.data.synth.cache.ensure_generated` (a dataset in the user cache),
:func:`cvgl_bench.data.synth.preview.contact_sheet` (a preview image).
"""

#: Bumped whenever the generator's output changes; cached datasets carry it in their folder
#: name, so a new version regenerates instead of reusing stale files.
GENERATOR_VERSION = "2"
