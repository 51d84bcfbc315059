"""Django's Redis cache, with one redis-py client per connection pool instead of one per call.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` for every cache operation;
redis-py 8 fills a case-insensitive dict of ~170 response callbacks in each one (~60-100 µs, more
than the round trip to Redis): the session read of every page, the cached counts of the portal.
A ``redis.Redis`` over a connection pool holds no connection of its own (each command takes one
from the pool and gives it back) and is safe to share between threads, so the one built for a
pool is kept and used for every operation on that pool. Pools, servers, serializer and options
are Django's. Compared with Django's backend in tests/smsmarketing/test_cache.py.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class _Client(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}  # id(pool) -> the redis.Redis over that pool

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None or client.connection_pool is not pool:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = _Client
