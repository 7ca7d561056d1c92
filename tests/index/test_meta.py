"""The meta collection on a real `chroma run` server: every reader (records by id, ids
by prefix) reopens a handle whose collection was deleted and recreated since, alike."""

from __future__ import annotations

import pytest

from rag.index.meta import IndexMeta
from rag.index.store import VectorStore
from tests.support.index_helpers import make_settings

pytestmark = pytest.mark.server


@pytest.fixture
def settings(tmp_path, chroma_server):
    return make_settings(tmp_path, tmp_path / "fiches", chroma_url=chroma_server.url)


def test_every_reader_reopens_a_collection_recreated_since_it_was_opened(settings):
    reader, writer = VectorStore(settings).meta(), VectorStore(settings).meta()
    writer.put("lease-1", {"holder": "old"})
    assert reader.ids("lease-") == ["lease-1"]  # the reader now holds a handle to this collection
    writer.connection.client().delete_collection(writer.name)
    fresh = IndexMeta(writer.connection, settings.collection)
    fresh.put("lease-2", {"holder": "new"})
    assert reader.ids("lease-") == ["lease-2"]
    writer.connection.client().delete_collection(writer.name)  # and again: the documents' reader too
    IndexMeta(writer.connection, settings.collection).put("lease-3", {"holder": "newer"})
    assert reader.get_prefixed("lease-") == {"lease-3": {"holder": "newer"}}


def test_a_deleted_collection_reads_as_empty_for_every_reader(settings):
    meta = VectorStore(settings).meta()
    meta.put("lease-1", {"holder": "a"})
    assert meta.ids("lease-") == ["lease-1"]
    meta.connection.client().delete_collection(meta.name)
    assert meta.ids("lease-") == []
    assert meta.get(["lease-1"]) == {}
    assert meta.record() is None
