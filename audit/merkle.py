"""RFC 9162 (Certificate Transparency 2.0) §2.1: Merkle tree hashes and inclusion proofs, pure functions.

Nothing here knows the database or the event format: a leaf is bytes, and a tree is a sequence of leaves.
A third party can check a proof printed by ``iam audit prove`` with :func:`verify_inclusion` alone (or any
RFC 9162 implementation): hash the leaf data with :func:`leaf_hash`, then walk the audit path to the root
that a signed checkpoint names.

* ``MTH({}) = SHA-256()``; ``MTH({d}) = SHA-256(0x00 || d)``;
  ``MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))`` with ``k`` the largest power of two < ``n``.
* :class:`Frontier` keeps only the roots of the perfect subtrees along the right edge (at most log2 n
  hashes), so a log of any size is extended and its root computed in O(log n) memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "Frontier",
    "inclusion_path",
    "leaf_hash",
    "node_hash",
    "perfect_root",
    "root_of",
    "verify_inclusion",
]

_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: the hash of one leaf entry."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: the hash of an interior node."""
    return _sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly smaller than ``size`` (``size`` > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves."""
    frontier = Frontier()
    for leaf in leaf_hashes:
        frontier.append(leaf)
    return frontier.root()


_RUN_HEIGHT = 8
_RUN = 1 << _RUN_HEIGHT


def perfect_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a power-of-two number of leaf hashes, level by level (no per-leaf method calls)."""
    level = list(leaf_hashes)
    if not level or len(level) & (len(level) - 1):
        raise ValueError(f"a perfect subtree has a power-of-two number of leaves, not {len(level)}")
    sha = _sha256
    while len(level) > 1:
        level = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    return level[0]


class Frontier:
    """The right edge of a growing tree: the roots of its perfect subtrees, largest (leftmost) first."""

    __slots__ = ("_hashes", "size")

    def __init__(self, *, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ValueError(f"a frontier of size {size} has {bin(size).count('1')} hashes, not {len(hashes)}")
        self.size = size
        self._hashes = list(hashes)

    @property
    def hashes(self) -> list[bytes]:
        return list(self._hashes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash. Each set trailing bit of the old size is a subtree that now merges."""
        hashes = self._hashes
        node = leaf
        size = self.size
        while size & 1:
            node = _sha256(b"\x01" + hashes.pop() + node).digest()
            size >>= 1
        hashes.append(node)
        self.size += 1

    def extend(self, leaves: Sequence[bytes]) -> None:
        """Add many leaf hashes; the same result as appending each, faster for long runs of leaves."""
        start, count = 0, len(leaves)
        while start < count and self.size % _RUN:
            self.append(leaves[start])
            start += 1
        while count - start >= _RUN:
            self._append_subtree(perfect_root(leaves[start:start + _RUN]), _RUN_HEIGHT)
            start += _RUN
        for leaf in leaves[start:]:
            self.append(leaf)

    def _append_subtree(self, node: bytes, height: int) -> None:
        """Add a perfect subtree of ``2**height`` leaves; the size must be a multiple of that."""
        hashes = self._hashes
        units = self.size >> height
        while units & 1:
            node = _sha256(b"\x01" + hashes.pop() + node).digest()
            units >>= 1
        hashes.append(node)
        self.size += 1 << height

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        node = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            node = _sha256(b"\x01" + left + node).digest()
        return node

    def copy(self) -> Frontier:
        return Frontier(size=self.size, hashes=self._hashes)


RangeHash = Callable[[int, int], bytes]


def inclusion_path(index: int, size: int, range_hash: RangeHash) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n]) for leaf ``index`` in a tree of ``size`` leaves.

    ``range_hash(start, end)`` must return MTH(D[start:end]); callers answer it from cached subtree hashes
    so that a proof over millions of events reads only a few thousand rows.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(range_hash(start + k, end))
            end = start + k
        else:
            path.append(range_hash(start, start + k))
            start = start + k
    path.reverse()
    return path


def verify_inclusion(leaf: bytes, *, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``path`` prove that the leaf hash ``leaf`` sits at ``index`` under ``root``?"""
    if index >= size or index < 0:
        return False
    fn, sn = index, size - 1
    node = leaf
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and node == root
