"""Disconnectivity graphs (Algorithm 2) and the flooding oracle, against hand-computed trees,
scipy single linkage and exhaustive SK enumeration."""

import numpy as np
import pytest
from scipy.cluster.hierarchy import cophenet, linkage
from scipy.spatial.distance import squareform

from ebmbook.energies.spin import SKModel
from ebmbook.landscape.dgraph import disconnectivity_graph, merge_consistency
from ebmbook.landscape.exact import enumerate_sk, grid_landscape


def test_flooding_a_hand_made_1d_profile():
    u = np.array([3.0, 1.0, 4.0, 0.0, 5.0, 2.0, 6.0])
    ex = grid_landscape(u)
    assert list(ex.minima) == [3, 1, 5]
    expected = np.array([[0, 4, 5], [4, 1, 5], [5, 5, 2]], dtype=float)
    assert np.array_equal(ex.barriers, expected)


def test_dg_matches_hand_computed_tree():
    # basins A..D with minima 0, 1, 2, 3; A-B merge at 4, C joins at 5 (via B), D at 7
    M = np.array([[0, 4, 6, 9],
                  [4, 1, 5, 7],
                  [6, 5, 2, 8],
                  [9, 7, 8, 3]], dtype=float)
    dg = disconnectivity_graph(M)
    assert dg.merges.tolist() == [[0, 1, 4], [2, 4, 5], [3, 5, 7]]
    assert [sorted(c) for c in dg.clusters()] == [[0, 1], [0, 1, 2], [0, 1, 2, 3]]
    assert dg.leaf_order()[0] == 0
    C = dg.cophenetic()
    assert C[0, 2] == 5 and C[3, 1] == 7 and C[2, 2] == 2


def test_dg_equals_scipy_single_linkage_on_random_matrices():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(3, 25))
        A = rng.random((n, n))
        M = (A + A.T) / 2 + 1.0
        np.fill_diagonal(M, rng.random(n) * 0.5)
        dg = disconnectivity_graph(M)
        D = M.copy()
        np.fill_diagonal(D, 0)
        Z = linkage(squareform(D, checks=False), "single")
        assert np.allclose(np.sort(dg.merges[:, 2]), np.sort(Z[:, 2]))
        C = dg.cophenetic()
        np.fill_diagonal(C, 0)
        assert np.allclose(squareform(C, checks=False), cophenet(Z))


def test_dg_from_exact_sk_barriers_reproduces_the_exact_merge_order():
    ex = enumerate_sk(SKModel.from_seed(14, 5))
    dg = disconnectivity_graph(ex.barriers)
    assert np.allclose(dg.merges[:, 2], ex.events[:, 0])
    assert np.allclose(dg.cophenetic(), ex.barriers)
    # exact minima are single-flip stable and come in mirror pairs
    assert np.all(SKModel.from_seed(14, 5).flip_cost(ex.states) > 0)
    assert len(ex.minima) % 2 == 0


def test_n_trees_counts_the_groups_no_finite_barrier_joins():
    """Oracle: scipy's connected components of the finite-barrier graph, on random symmetric
    matrices with some barriers removed; and by hand: a connected matrix is one tree."""
    from scipy.sparse.csgraph import connected_components
    rng = np.random.default_rng(7)
    for n in (1, 2, 5, 9):
        for drop in (0.0, 0.5, 0.9):
            B = rng.uniform(1.0, 5.0, (n, n))
            B = np.minimum(B, B.T)
            cut = np.triu(rng.random((n, n)) < drop, 1)
            B[cut | cut.T] = np.inf
            np.fill_diagonal(B, rng.uniform(-1.0, 0.0, n))
            dg = disconnectivity_graph(B)
            assert dg.n_trees == connected_components(np.isfinite(B))[0]
    assert disconnectivity_graph(np.array([[0.0, 1.0], [1.0, 0.5]])).n_trees == 1
    assert disconnectivity_graph(np.array([[0.0, np.inf], [np.inf, 0.5]])).n_trees == 2


def test_prune_removes_shallow_basins_and_keeps_counts():
    M = np.array([[0.0, 0.05, 2.0], [0.05, 0.02, 2.0], [2.0, 2.0, 1.0]])
    dg = disconnectivity_graph(M, counts=np.array([3, 4, 5])).prune(0.1)
    assert dg.n == 2
    assert sorted(dg.counts.tolist()) == [5, 7]
    assert np.allclose(sorted(dg.leaf_energy), [0.0, 1.0])


def test_merge_consistency_detects_reordered_merges():
    M1 = np.array([[0, 1, 3], [1, 0, 3], [3, 3, 0]], dtype=float)
    M2 = np.array([[0, 3, 1], [3, 0, 3], [1, 3, 0]], dtype=float)
    same, _ = merge_consistency(disconnectivity_graph(M1), disconnectivity_graph(M1),
                                np.arange(3))
    diff, flags = merge_consistency(disconnectivity_graph(M1), disconnectivity_graph(M2),
                                    np.arange(3))
    assert same == 1.0 and diff == 0.5 and flags.tolist() == [0, 1]


def test_merge_consistency_is_defined_once_two_leaves_match():
    rng = np.random.default_rng(3)
    for _ in range(20):
        n, m = int(rng.integers(3, 12)), int(rng.integers(3, 12))
        A = rng.random((n, n))
        A = np.minimum(A, A.T) + 1.0
        np.fill_diagonal(A, rng.random(n))
        B = rng.random((m, m))
        B = np.minimum(B, B.T) + 1.0
        np.fill_diagonal(B, rng.random(m))
        A[0, 1:] = A[1:, 0] = np.inf  # a leaf that no barrier reaches merges at inf
        match = -np.ones(n, dtype=np.int64)
        k = int(rng.integers(2, min(n, m) + 1))
        rows = rng.choice(n, k, replace=False)
        match[rows] = rng.choice(m, k, replace=False)
        frac, flags = merge_consistency(disconnectivity_graph(A), disconnectivity_graph(B),
                                        match)
        # k matched leaves are joined by exactly k - 1 comparable merges
        assert np.isfinite(frac) and 0.0 <= frac <= 1.0
        assert int((flags >= 0).sum()) == k - 1


def test_dg_rejects_bad_input():
    with pytest.raises(ValueError):
        disconnectivity_graph(np.array([[0, 1], [2, 0]], dtype=float))


def test_partition_cuts_the_lowest_merges_first():
    from ebmbook.landscape.dgraph import disconnectivity_graph
    # leaves 0, 1 merge at -2; leaf 2 joins them at -1; leaf 3 stays apart (inf)
    M = np.array([[-3.0, -2.0, -1.0, np.inf], [-2.0, -2.5, -1.0, np.inf],
                  [-1.0, -1.0, -1.5, np.inf], [np.inf, np.inf, np.inf, -0.5]])
    dg = disconnectivity_graph(M)
    assert dg.partition(4).tolist() == [0, 1, 2, 3]
    assert dg.partition(3).tolist() == [0, 0, 1, 2]
    assert dg.partition(2).tolist() == [0, 0, 0, 1]
    assert dg.partition(1).tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="k must be"):
        dg.partition(5)
