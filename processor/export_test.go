package processor

// SetWriteChunk sets how many leads one store write carries (writeChunk),
// so that tests can make a small batch span many chunks.
func SetWriteChunk(p *Processor, n int) { p.writeChunk = n }
