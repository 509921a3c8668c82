"""A procedural synthetic cross-view world, rendered in numpy and written in the real layouts.

The embedded default benchmark of cvgl-bench: towns of several styles on a height field
(streets, buildings, trees, water, parking lots), photographed from the ground (360-degree
panoramas), from drones (oblique views circling a building) and from satellites
(orthographic tiles), then laid out exactly like CVUSA, CVACT, VIGOR and University-1652 so
the real readers read them.

Entry points: :func:`cvgl_bench.data.synth.generate.generate` (a dataset into a folder),
:func:`cvgl_bench.data.synth.cache.ensure_generated` (a dataset in the user cache),
:func:`cvgl_bench.data.synth.preview.contact_sheet` (a preview image).
"""

#: Bumped whenever the rendered worlds or views change (every layout's output changes).
GENERATOR_VERSION = "2"

#: Bumped when one layout's own plan changes (its counts, how places are split) while the
#: renderer stays: only that layout's datasets and records move. Revision 1 of CVUSA and CVACT:
#: ``small`` trains on more pairs (docs/synth.md, "Training-set size"). Revision 2 of CVUSA: the
#: suburb's satellite tile centre is offset from the camera by 6 m instead of 7 m (docs/synth.md,
#: "Shortcut guards"). Revision 2 of CVACT: one town in five is a suburb (docs/synth.md, "Transfer").
LAYOUT_REVISIONS: dict[str, int] = {"cvusa": 2, "cvact": 2}


def dataset_version(layout: str) -> str:
    """The version of ``layout``'s datasets: ``GENERATOR_VERSION``, then ``.<revision>`` when the
    layout has one. Cached datasets carry it in their folder name and records in their
    provenance, so a new version regenerates instead of reusing stale files, and older records
    show as stale."""
    revision = LAYOUT_REVISIONS.get(layout, 0)
    return f"{GENERATOR_VERSION}.{revision}" if revision else GENERATOR_VERSION
