"""A split reader must return the protocol it was asked for: the record is filed under it."""

from __future__ import annotations

import dataclasses

import pytest

from cvgl_bench.data.formats.cvusa import load_test
from cvgl_bench.data.splits import load_split
from cvgl_bench.errors import PluginError

from .dataset_trees import altitude_plugin, make_cvusa


def _forgets(root, protocol):
    return dataclasses.replace(load_test(root, protocol), protocol={})


def _alters(root, protocol):
    return dataclasses.replace(load_test(root, protocol), protocol={**protocol, "altitude": "150"})


def _passes_it_on(root, protocol):
    return load_test(root, protocol)


@pytest.mark.parametrize("reader, shown", [(_forgets, "protocol {}"), (_alters, "protocol {altitude=150, ties=strict}")])
def test_a_reader_that_drops_or_alters_the_protocol_is_refused(make_host, tmp_path, reader, shown):
    host = make_host(altitude_plugin(reader))
    make_cvusa(tmp_path / "Alt")
    with pytest.raises(PluginError) as error:
        load_split(host.splits.get("alt_test"), tmp_path, {"altitude": "300"}, host)
    message = str(error.value)
    assert "split 'alt_test'" in message and "asked for protocol {altitude=300, ties=strict}" in message
    assert f"returned EvalData with {shown}" in message and "EvalData(protocol=...)" in message


def test_a_reader_that_passes_the_protocol_on_loads(make_host, tmp_path):
    host = make_host(altitude_plugin(_passes_it_on))
    make_cvusa(tmp_path / "Alt")
    data = load_split(host.splits.get("alt_test"), tmp_path, {"altitude": "300"}, host)
    assert data.protocol == {"altitude": "300", "ties": "strict"}


def _inconsistent(root, protocol):
    data = load_test(root, protocol)
    return type(data)(data.split, data.queries, data.references.__class__(
        data.references.view, data.references.ids[:1], data.references.paths[:1]), data.truth, dict(protocol))


def test_a_reader_whose_arrays_do_not_fit_is_named(make_host, tmp_path):
    host = make_host(altitude_plugin(_inconsistent))
    make_cvusa(tmp_path / "Alt")
    with pytest.raises(PluginError, match=r"split 'alt_test' of \(in-process\) \(plugin 'altitudes'\): its reader "
                                          r"failed: ValueError: ground truth and reference set disagree in size"):
        load_split(host.splits.get("alt_test"), tmp_path, None, host)


def _duplicate_ids(root, protocol):
    data = load_test(root, protocol)
    refs = data.references
    ids = [refs.ids[0]] * len(refs.ids)
    return type(data)(data.split, data.queries, type(refs)(refs.view, ids, refs.paths), data.truth, dict(protocol))


def test_an_evaluation_split_with_two_images_of_one_id_is_refused_when_read(make_host, tmp_path):
    host = make_host(altitude_plugin(_duplicate_ids))
    make_cvusa(tmp_path / "Alt")
    with pytest.raises(PluginError, match="ValueError: reference id '0000005' names two images of the split; ids "
                                          "must be unique"):
        load_split(host.splits.get("alt_test"), tmp_path, None, host)
