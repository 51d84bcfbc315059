"""The Redis cache backend (smsmarketing.cache) behaves as Django's, with one client per pool."""

from __future__ import annotations

import os
import threading
import uuid

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from smsmarketing.cache import RedisCache

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _backends():
    # A prefix of their own: the machine's Redis is shared (never clear() it).
    def params():
        return {"KEY_PREFIX": f"test-cache-{uuid.uuid4().hex}", "TIMEOUT": 60}

    return RedisCache(REDIS_URL, params()), DjangoRedisCache(REDIS_URL, params())


def _workout(cache) -> list:
    """Every kind of operation, each answer recorded."""
    return [
        cache.set("a", {"n": 1}), cache.get("a"), cache.add("a", 2), cache.add("b", 2),
        cache.incr("b", 5), cache.decr("b"), cache.get_many(["a", "b", "c"]),
        cache.set_many({"c": [1, 2], "d": "文字"}), cache.get_or_set("e", 7), cache.touch("c", 30),
        cache.has_key("d"), cache.delete("d"), cache.delete_many(["a", "e"]),
        cache.get("d", "gone"), cache.get_many(["a", "b", "c", "d", "e"]),
    ]  # fmt: skip


def test_it_answers_as_djangos_redis_cache():
    ours, django = _backends()
    assert _workout(ours) == _workout(django)
    assert ours.get_many(["b", "c"]) == {"b": 6, "c": [1, 2]}
    for cache in (ours, django):
        cache.delete_many(["b", "c"])


def test_it_builds_one_client_per_pool_and_shares_it_between_threads():
    ours, django = _backends()
    assert ours._cache.get_client() is ours._cache.get_client(write=True)
    assert django._cache.get_client() is not django._cache.get_client()  # Django's: one per call
    errors = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                ours.set(f"t{n}", i)
                assert ours.get(f"t{n}") == i
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert ours.get_many([f"t{n}" for n in range(8)]) == {f"t{n}": 49 for n in range(8)}
    ours.delete_many([f"t{n}" for n in range(8)])


def test_it_keeps_djangos_pools_with_several_servers():
    """Writes go to the first server's pool, reads to the others', as in Django's client."""
    ours = RedisCache(f"{REDIS_URL};{REDIS_URL}", {"KEY_PREFIX": f"test-cache-{uuid.uuid4().hex}"})
    writer, reader = ours._cache.get_client(write=True), ours._cache.get_client()
    assert writer.connection_pool is ours._cache._pools[0]
    assert reader.connection_pool is ours._cache._pools[1]
    assert (writer, reader) == (ours._cache.get_client(write=True), ours._cache.get_client())
    ours.set("k", 1)
    assert ours.get("k") == 1
    ours.delete("k")
