"""The Merkle tree of RFC 9162 §2.1: tree hashes, inclusion and consistency proofs.

Pure computation with no storage, so the offline verifier can use it. Leaves are given
as their leaf hashes, SHA-256(0x00 || entry); interior nodes are SHA-256(0x01 || l || r).
A tree of n > 1 leaves splits at k, the largest power of two smaller than n.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_BYTES = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

# Perfect subtrees at least this large are memoised: they never change in an append-only
# log, and remembering them makes every later root or proof cost O(MEMO_MIN * log n).
MEMO_MIN = 64


def leaf_hash(entry: bytes) -> bytes:
    """The hash of one log entry as a leaf: SHA-256(0x00 || entry)."""
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class LeafSource(Protocol):
    """A sequence of leaf hashes that may grow but never changes what it holds."""

    def __len__(self) -> int:
        """The number of leaves."""

    def __getitem__(self, index: int, /) -> bytes:
        """The leaf hash at `index`."""


class LeafHashes:
    """Append-only leaf hashes packed in one buffer (32 bytes each)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def __len__(self) -> int:
        return len(self._buffer) // HASH_BYTES

    def __getitem__(self, index: int) -> bytes:
        if not 0 <= index < len(self):
            raise IndexError(index)
        start = index * HASH_BYTES
        return bytes(self._buffer[start : start + HASH_BYTES])

    def append(self, digest: bytes) -> None:
        """Add the next leaf hash."""
        self._buffer += digest

    def extend(self, digests: bytes) -> None:
        """Add the next leaf hashes, given back to back."""
        self._buffer += digests

    def clear(self) -> None:
        """Forget every leaf."""
        self._buffer = bytearray()


class MerkleTree:
    """Roots and proofs over a growing sequence of leaf hashes, memoising perfect subtrees."""

    def __init__(self, leaves: LeafSource) -> None:
        self.leaves = leaves
        self._memo: dict[tuple[int, int], bytes] = {}

    def subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for 0 <= lo < hi <= len(leaves)."""
        n = hi - lo
        if n == 1:
            return self.leaves[lo]
        if n >= MEMO_MIN and n & (n - 1) == 0 and lo % n == 0:
            cached = self._memo.get((lo, n))
            return cached if cached is not None else self._perfect(lo, n)
        k = split_point(n)
        return node_hash(self.subtree(lo, lo + k), self.subtree(lo + k, hi))

    def _perfect(self, lo: int, n: int) -> bytes:
        """Hash a perfect subtree level by level, remembering its large aligned parts."""
        nodes = [self.leaves[i] for i in range(lo, lo + n)]
        size = 1
        while len(nodes) > 1:
            nodes = [node_hash(nodes[i], nodes[i + 1]) for i in range(0, len(nodes), 2)]
            size *= 2
            if size >= MEMO_MIN:
                for offset, value in enumerate(nodes):
                    self._memo[(lo + offset * size, size)] = value
        return nodes[0]

    def root(self, tree_size: int) -> bytes:
        """The root hash of the first `tree_size` leaves."""
        _require_size(tree_size, len(self.leaves))
        return EMPTY_ROOT if tree_size == 0 else self.subtree(0, tree_size)

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        """PATH(index, D[0:tree_size]) of RFC 9162 §2.1.3.1, leaf-side first."""
        return self.inclusion_proofs([index], tree_size)[0]

    def inclusion_proofs(self, indices: Sequence[int], tree_size: int) -> list[list[bytes]]:
        """The paths of several leaves at once: the nodes their paths share (most of them,
        for leaves close together) are hashed once."""
        _require_size(tree_size, len(self.leaves))
        shared: dict[tuple[int, int], bytes] = {}

        def node(lo: int, hi: int) -> bytes:
            found = shared.get((lo, hi))
            if found is None:
                found = shared[(lo, hi)] = self.subtree(lo, hi)
            return found

        paths = []
        for index in indices:
            if not 0 <= index < tree_size:
                raise ValueError(f"leaf index {index} is not below tree size {tree_size}")
            path: list[bytes] = []
            lo, hi, m = 0, tree_size, index
            while hi - lo > 1:
                k = split_point(hi - lo)
                if m < k:
                    path.append(node(lo + k, hi))
                    hi = lo + k
                else:
                    path.append(node(lo, lo + k))
                    lo, m = lo + k, m - k
            path.reverse()
            paths.append(path)
        return paths

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """PROOF(first, D[0:second]) of RFC 9162 §2.1.4.1."""
        _require_size(second, len(self.leaves))
        if not 0 <= first <= second:
            raise ValueError(f"first tree size {first} must be between 0 and {second}")
        if first in (0, second):
            return []
        path: list[bytes] = []
        lo, hi, m, complete = 0, second, first, True
        while True:
            n = hi - lo
            if m == n:
                if not complete:
                    path.append(self.subtree(lo, hi))
                break
            k = split_point(n)
            if m <= k:
                path.append(self.subtree(lo + k, hi))
                hi = lo + k
            else:
                path.append(self.subtree(lo, lo + k))
                lo, m, complete = lo + k, m - k, False
        path.reverse()
        return path


def _require_size(tree_size: int, available: int) -> None:
    if not 0 <= tree_size <= available:
        raise ValueError(f"tree size {tree_size} is outside the log (0..{available})")


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does `path` prove leaf hash `leaf` at `index` under `root`?"""
    if not 0 <= index < tree_size or any(len(p) != HASH_BYTES for p in path):
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: does `path` prove the tree of size `first` a prefix of `second`?"""
    if not 0 <= first <= second or any(len(p) != HASH_BYTES for p in path):
        return False
    if first == second:
        return not path and first_root == second_root
    if first == 0:
        return not path
    if not path:
        return False
    nodes = list(path)
    if first & (first - 1) == 0:
        nodes.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
