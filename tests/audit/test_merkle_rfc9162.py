"""RFC 9162 §2.1 Merkle tree hashes and inclusion proofs, checked against the definitions themselves."""

from __future__ import annotations

import hashlib

import pytest

from audit.merkle import EMPTY_ROOT, Frontier, inclusion_path, leaf_hash, node_hash, root_of, verify_inclusion

LEAVES = [leaf_hash(f"entry {i}".encode()) for i in range(80)]


def mth(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 §2.1.1."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def test_leaf_and_node_hashes_use_the_domain_separation_prefixes() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize("size", [0, 1, 2, 3, 7, 8, 9, 31, 64, 70])
def test_frontier_root_equals_the_definition(size: int) -> None:
    frontier = Frontier()
    for leaf in LEAVES[:size]:
        frontier.append(leaf)
    restored = Frontier(size=frontier.size, hashes=frontier.hashes)
    assert (frontier.root(), restored.root(), root_of(LEAVES[:size])) == (mth(LEAVES[:size]),) * 3


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 70])
def test_every_inclusion_path_verifies_and_only_for_its_leaf(size: int) -> None:
    tree = LEAVES[:size]
    root = mth(tree)
    for index in range(size):
        path = inclusion_path(index, size, lambda start, end: mth(tree[start:end]))
        assert verify_inclusion(tree[index], index=index, size=size, path=path, root=root)
        assert not verify_inclusion(leaf_hash(b"forged"), index=index, size=size, path=path, root=root)
        assert not verify_inclusion(tree[index], index=index, size=size, path=path, root=mth(LEAVES[:size + 1]))


def test_tampered_path_fails() -> None:
    path = inclusion_path(5, 13, lambda start, end: mth(LEAVES[start:end]))
    path[1] = leaf_hash(b"x")
    assert not verify_inclusion(LEAVES[5], index=5, size=13, path=path, root=mth(LEAVES[:13]))


def test_frontier_refuses_an_inconsistent_state() -> None:
    with pytest.raises(ValueError, match="a frontier of size 3 has 2 hashes, not 1"):
        Frontier(size=3, hashes=[LEAVES[0]])
