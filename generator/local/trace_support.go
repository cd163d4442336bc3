package local

// Exclusive runs f while holding the engine's lock, so that f may use
// Model() and Tokenizer() directly (their work buffers are not safe for
// concurrent use) without racing a Generate or Decode call. package trace
// uses it for `tessella trace`. f must not call Generate or Decode (they
// would wait for the lock f holds).
func (e *Engine) Exclusive(f func() error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return f()
}
