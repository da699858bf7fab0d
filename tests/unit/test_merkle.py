"""The Merkle log's maths against RFC 9162 §2.1, checked by a straightforward re-implementation.

The reference functions below follow the RFC's recursive definitions literally, on lists of
entries, with nothing memoised; the production tree is iterative and memoises subtrees.
"""

from __future__ import annotations

import hashlib

import pytest

from tests.support.merkle_reference import MAX_SIZE, ref_mth, ref_path, ref_proof
from tris.domain.proofs.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

# -- the reference implementation: RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1 read literally ---------


ENTRIES = [f"event {i}".encode() for i in range(MAX_SIZE)]


@pytest.fixture(scope="module")
def tree() -> MerkleTree:
    return MerkleTree([leaf_hash(e) for e in ENTRIES])


# -- published vectors (Certificate Transparency's merkle tree tests) --------------------------

CT_LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_roots_match_the_published_certificate_transparency_vectors() -> None:
    ct = MerkleTree([leaf_hash(bytes.fromhex(x)) for x in CT_LEAVES])
    assert [ct.root(n).hex() for n in range(1, 9)] == CT_ROOTS


def test_the_empty_tree_has_the_hash_of_the_empty_string() -> None:
    assert MerkleTree([]).root(0) == EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_leaves_and_nodes_are_hashed_with_distinct_prefixes() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    pair = MerkleTree([leaf_hash(b"a"), leaf_hash(b"b")]).root(2)
    assert pair == hashlib.sha256(b"\x01" + leaf_hash(b"a") + leaf_hash(b"b")).digest()


# -- every tree size up to 64 against the reference --------------------------------------------


@pytest.mark.parametrize("n", range(1, MAX_SIZE + 1))
def test_root_of_every_size_matches_the_reference(tree: MerkleTree, n: int) -> None:
    assert tree.root(n) == ref_mth(ENTRIES[:n])


@pytest.mark.parametrize("n", range(1, MAX_SIZE + 1))
def test_inclusion_proofs_of_every_leaf_match_the_reference_and_verify(
    tree: MerkleTree, n: int
) -> None:
    root = ref_mth(ENTRIES[:n])
    for m in range(n):
        path = tree.inclusion_proof(m, n)
        assert path == ref_path(m, ENTRIES[:n])
        leaf = leaf_hash(ENTRIES[m])
        assert verify_inclusion(leaf, m, n, path, root)
        # Another leaf, another index, a wrong root or a damaged path must all fail.
        assert not verify_inclusion(leaf_hash(b"forged"), m, n, path, root)
        if n > 1:
            assert not verify_inclusion(leaf, (m + 1) % n, n, path, root)
            damaged = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
            assert not verify_inclusion(leaf, m, n, damaged, root)
            assert not verify_inclusion(leaf, m, n, path[:-1], root)
        assert not verify_inclusion(leaf, m, n, [*path, root], root)
        assert not verify_inclusion(leaf, m, n, path, ref_mth(ENTRIES[: n - 1] or [b"x"]))


@pytest.mark.parametrize("n", range(1, MAX_SIZE + 1))
def test_consistency_proofs_of_every_prefix_match_the_reference_and_verify(
    tree: MerkleTree, n: int
) -> None:
    second_root = ref_mth(ENTRIES[:n])
    for m in range(1, n + 1):
        proof = tree.consistency_proof(m, n)
        first_root = ref_mth(ENTRIES[:m])
        assert proof == ([] if m == n else ref_proof(m, ENTRIES[:n]))
        assert verify_consistency(m, n, first_root, second_root, proof)
        if m < n:
            forged_first = ref_mth([*ENTRIES[: m - 1], b"forged"])
            assert not verify_consistency(m, n, forged_first, second_root, proof)
            assert not verify_consistency(m, n, first_root, ref_mth(ENTRIES[: n - 1]), proof)
            damaged = [*proof[:-1], bytes([proof[-1][0] ^ 1]) + proof[-1][1:]]
            assert not verify_consistency(m, n, first_root, second_root, damaged)
            assert not verify_consistency(m, n, first_root, second_root, proof[:-1])


def test_a_fork_of_the_log_has_no_consistency_proof() -> None:
    honest = MerkleTree([leaf_hash(e) for e in ENTRIES[:10]])
    forked = [*ENTRIES[:3], b"rewritten", *ENTRIES[4:10]]
    forked_tree = MerkleTree([leaf_hash(e) for e in forked])
    proof = forked_tree.consistency_proof(5, 10)
    assert not verify_consistency(5, 10, honest.root(5), forked_tree.root(10), proof)


def test_proofs_refuse_sizes_beyond_the_tree(tree: MerkleTree) -> None:
    with pytest.raises(ValueError):
        tree.root(MAX_SIZE + 1)
    with pytest.raises(ValueError):
        tree.inclusion_proof(5, 5)
    with pytest.raises(ValueError):
        tree.consistency_proof(6, 5)


def test_a_growing_tree_keeps_its_memoised_subtrees_valid() -> None:
    leaves: list[bytes] = []
    growing = MerkleTree(leaves)
    entries = [f"e{i}".encode() for i in range(300)]
    for i, entry in enumerate(entries):
        leaves.append(leaf_hash(entry))
        if i % 37 == 0 or i == len(entries) - 1:
            assert growing.root(i + 1) == ref_mth(entries[: i + 1])
    assert growing.inclusion_proof(200, 300) == ref_path(200, entries)
    assert growing.consistency_proof(129, 300) == ref_proof(129, entries)
