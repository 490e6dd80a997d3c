"""Caches with a maximum number of entries.

The caches of compiled code are keyed by user functions, which a program
may create without end (a lambda made in a loop), and each entry keeps
what its function's globals and closure held when it was compiled. So
every cache that such keys reach keeps only its most recently used
entries.
"""

import collections


class LruCache(collections.OrderedDict):
    """A dict that keeps its `maxsize` most recently used entries.

    `get` and storing an entry mark it used. Storing an entry past the
    limit removes the least recently used one and passes its key and value
    to `on_evict`, if given. Threads may share one without a lock, as they
    share a dict: an entry that another thread removes between two steps
    counts as missing.
    """

    def __init__(self, maxsize, on_evict=None):
        super().__init__()
        self.maxsize = maxsize
        self.on_evict = on_evict

    def get(self, key, default=None):
        try:
            value = self[key]
            self.move_to_end(key)
        except KeyError:
            return default
        return value

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        try:
            self.move_to_end(key)
        except KeyError:  # Removed by another thread.
            pass
        while len(self) > self.maxsize:
            try:
                evicted = self.popitem(last=False)
            except KeyError:  # Emptied by another thread.
                break
            if self.on_evict is not None:
                self.on_evict(*evicted)
