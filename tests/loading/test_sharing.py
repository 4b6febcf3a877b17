"""The loaded repository is compact: equal label sets and subsettings are one object, the
entries of a file one tuple, and loading leaves no reference cycle behind (the loader
freezes what survives it, so a cycle would never be freed)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping

from reconciler.loading import yamlfiles
from reconciler.loading.catalogs import shipped_catalog
from reconciler.loading.checks import check_gateways
from reconciler.model.repos import Repo

Load = Callable[[Mapping[str, str]], Repo]

FILE = """\
gateways:
  - id: GW-1
    type: LSX
    labels: {site: north, level: '1'}
    subsettings: {charging: {MaxChargingCurrent: 20}}
  - id: GW-2
    type: LSX
    labels: {site: north, level: '1'}
    subsettings: {charging: {MaxChargingCurrent: 20}}
  - id: GW-3
    type: LSX
    labels: {level: '1', site: north}
"""


def test_equal_labels_and_subsettings_are_one_object_and_order_is_kept(load: Load) -> None:
    repo = load({"gateways.d/a.yaml": FILE})
    one, two, three = (repo.gateways[i] for i in ("GW-1", "GW-2", "GW-3"))
    assert one.labels is two.labels and one.subsettings is two.subsettings
    assert three.labels == one.labels and three.labels is not one.labels  # another order
    assert list(three.labels) == ["level", "site"]
    assert three.subsettings == {}


def test_entries_keep_their_index_in_the_file_also_after_a_broken_one() -> None:
    data = yamlfiles.construct(yamlfiles.compose(FILE.replace("id: GW-2", "id: 'bad id'")))
    result = check_gateways("gateways.d/a.yaml", data, shipped_catalog())
    assert result.entries == []
    assert [(i, e.id) for i, e in result.indexed()] == [(0, "GW-1"), (2, "GW-3")]
    assert result.entry_tuple == tuple(e for _, e in result.indexed())
    whole = check_gateways(
        "gateways.d/a.yaml", yamlfiles.construct(yamlfiles.compose(FILE)), shipped_catalog()
    )
    assert whole.indexes is None and [i for i, _ in whole.indexed()] == [0, 1, 2]


def test_constructing_a_file_leaves_no_reference_cycle() -> None:
    root = yamlfiles.compose(FILE)
    gc.collect()
    gc.disable()
    try:
        yamlfiles.construct(root)
        assert gc.collect() == 0
    finally:
        gc.enable()
