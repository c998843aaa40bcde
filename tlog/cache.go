package tlog

import (
	"container/list"
	"sync"
)

// tileKey names an immutable tile or entry bundle: a given width of a given
// tile never changes, so (kind, level, index, width) is a safe cache key
// across batches and across processes sharing a database.
type tileKey struct {
	kind         tileKind
	level, index uint64
	width        uint16 // number of hashes or entries, 1..256
}

type tileKind uint8

const (
	hashTile tileKind = iota
	entryBundle
	nodeTile // all interior nodes of a hash tile, see nodes.go
)

// tileCache is a byte-bounded LRU of tiles and entry bundles.
type tileCache struct {
	mu       sync.Mutex
	maxBytes int
	bytes    int
	order    *list.List // front = most recent
	items    map[tileKey]*list.Element
}

type cacheItem struct {
	key  tileKey
	val  any
	size int
}

func newTileCache(maxBytes int) *tileCache {
	return &tileCache{maxBytes: maxBytes, order: list.New(), items: make(map[tileKey]*list.Element)}
}

func (c *tileCache) get(k tileKey) ([]byte, bool) {
	v, ok := c.getAny(k)
	if !ok {
		return nil, false
	}
	return v.([]byte), true
}

func (c *tileCache) put(k tileKey, data []byte) { c.putAny(k, data, len(data)) }

func (c *tileCache) getAny(k tileKey) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cacheItem).val, true
}

// putAny stores v, which the caller must not modify afterwards.
func (c *tileCache) putAny(k tileKey, v any, size int) {
	if size > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.items[k] = c.order.PushFront(&cacheItem{key: k, val: v, size: size})
	c.bytes += size
	for c.bytes > c.maxBytes {
		e := c.order.Back()
		it := e.Value.(*cacheItem)
		c.order.Remove(e)
		delete(c.items, it.key)
		c.bytes -= it.size
	}
}

func kindOf(bundle bool) tileKind {
	if bundle {
		return entryBundle
	}
	return hashTile
}
