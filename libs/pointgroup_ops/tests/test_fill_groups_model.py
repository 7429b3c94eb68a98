"""benchmarks/fill_groups_model.py: the fill pass's query groups, counted on hand-made cells."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks"))
import fill_groups_model as model  # noqa: E402


def one_cell(n):
    return np.zeros((n, 4), dtype=np.int64)


@pytest.mark.parametrize("length, room_walks", [(100, 3), (300, 10)])
def test_one_cell_of_20_queries(length, room_walks):
    # 20 queries, 8 a warp: warps of 8, 8 and 4. With lists of 100 each warp's queries fit one
    # group (8 x 100 + 100 <= 1024); with lists of 300, two a group (2 x 300 + 300 <= 1024 < 3 x
    # 300 + 300): 4 + 4 + 2 walks.
    lengths = np.full(20, length)
    assert model.walks(one_cell(20), lengths, 8, room_rule=False) == 3
    assert model.walks(one_cell(20), lengths, 8, room_rule=True) == room_walks


def test_a_list_over_the_bucket_sort_is_walked_alone_under_the_room_rule():
    lengths = np.array([600, 10, 10])
    assert model.walks(one_cell(3), lengths, 8, room_rule=True) == 2
    assert model.walks(one_cell(3), lengths, 8, room_rule=False) == 1


def test_a_new_cell_starts_a_new_group():
    keys = np.array([[0, 0, 0, c % 2] for c in range(6)])  # cells alternate
    lengths = np.full(6, 5)
    assert model.walks(keys, lengths, 8, room_rule=False) == 6
    keys = np.array([[0, 0, 0, c // 3] for c in range(6)])  # two runs of three
    assert model.walks(keys, lengths, 8, room_rule=False) == 2
    assert model.walks(keys, lengths, 2, room_rule=False) == 4  # warps of two: 2+1, 1+2


def test_cell_order_is_by_scene_then_z_y_x_and_stable():
    xyz = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.1, 0.1, 0.1],
                    [0.0, 0.0, 0.0]])
    scene = np.array([0, 0, 0, 0, 1])
    order, keys = model.cell_order(xyz, scene, radius=1.0)  # cells of edge 0.5
    assert order.tolist() == [3, 1, 2, 0, 4]
    assert keys.tolist() == [[0, 0, 0, 0], [0, 0, 0, 2], [0, 0, 2, 0], [0, 2, 0, 0], [1, 0, 0, 0]]
