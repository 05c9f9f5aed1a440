package hotkey

// Invalidate drops the cached values of keys, hot or not, so the next Get loads them again.
// Call it after writing a key in the process that wrote it; other processes see the write
// within the TTL.
func (c *Cache[V]) Invalidate(keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		delete(c.entries, k)
	}
}
