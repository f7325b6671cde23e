package state

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
)

// Encoded record (one hash field value), integers unsigned varints unless
// said otherwise:
//
//	version
//	flags byte: bit 0 tombstone, bit 1 absorbed list, bit 2 further
//	  boards, bit 3 outbox acknowledged by the commit; bits 6-7 format (0)
//	deadline: 4 bytes, big-endian unix seconds (0: no timer)
//	stage id (0: none)
//	[stage] rank units (round(Rank*RankScale)), zig-zag
//	[boards] n, n x (stage id, rank units zig-zag)
//	n, n x (topic id, partition, offset)
//	n, n x identity
//	[tombstone] len, merged-into lead id
//	[absorbed]  n, n x (len, lead id)
//	data (the rest)
//
// The version comes first and is self-delimiting, so the write script checks
// a compare-and-set by comparing a prefix; the deadline, stage and rank come
// next so the timer sweep and the leaderboard merge (Lua) read them without
// decoding the rest. An identity is one kind byte (0 raw, 1 "anon:",
// 2 "user:", 3 "email:"; +0x80 when the rest is a canonical lower-case UUID,
// stored as 16 bytes) then the rest as len, bytes.
const (
	flagTombstone = 1 << 0
	flagAbsorbed  = 1 << 1
	flagBoards    = 1 << 2
	flagCommitAck = 1 << 3
	formatMask    = 0xC0
)

var identityKinds = [...]string{"", "anon:", "user:", "email:"}

// offsetEntry is one source partition's last applied offset, with the topic
// as a dictionary id.
type offsetEntry struct {
	topic     uint64
	partition uint64
	offset    uint64
}

// boardEntry is a further leaderboard position: a stage id and rank units.
type boardEntry struct {
	stage uint64
	rank  int64
}

// snapshot is the decoded stored form of a record, kept inside Record so a
// later Update is merged with exactly what was stored.
type snapshot struct {
	version    uint64
	flags      byte
	deadline   uint32 // unix seconds, 0: none
	stage      uint64
	rank       int64 // rank units, when stage != 0
	boards     []boardEntry
	offsets    []offsetEntry
	identities []string
	identEnc   []byte // encoded identities section, when known (reused on re-encoding)
	mergedInto string
	absorbed   []string
}

var errCorrupt = errors.New("corrupt record")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendIdentity(b []byte, id string) []byte {
	kind, rest := 0, id
	for k := 1; k < len(identityKinds); k++ {
		if strings.HasPrefix(id, identityKinds[k]) {
			kind, rest = k, id[len(identityKinds[k]):]
			break
		}
	}
	if u, ok := parseUUID(rest); ok {
		b = append(b, byte(kind)|0x80)
		return append(b, u[:]...)
	}
	b = append(b, byte(kind))
	return appendString(b, rest)
}

// parseUUID accepts only the canonical lower-case form, so that decoding
// gives back the very same string.
func parseUUID(s string) (u [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i--
			continue
		}
		hi, ok1 := lowerHex(s[i])
		lo, ok2 := lowerHex(s[i+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[j] = hi<<4 | lo
		j++
	}
	return u, j == 16
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func formatUUID(u []byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}

// encodeRecord appends the encoding of s and data to b; idFrom and idTo
// delimit its identities section in the result.
func encodeRecord(b []byte, s *snapshot, data []byte) (rec []byte, idFrom, idTo int) {
	b = binary.AppendUvarint(b, s.version)
	b = append(b, s.flags)
	b = binary.BigEndian.AppendUint32(b, s.deadline)
	b = binary.AppendUvarint(b, s.stage)
	if s.stage != 0 {
		b = binary.AppendVarint(b, s.rank)
	}
	if s.flags&flagBoards != 0 {
		b = binary.AppendUvarint(b, uint64(len(s.boards)))
		for _, e := range s.boards {
			b = binary.AppendUvarint(b, e.stage)
			b = binary.AppendVarint(b, e.rank)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(s.offsets)))
	for _, o := range s.offsets {
		b = binary.AppendUvarint(b, o.topic)
		b = binary.AppendUvarint(b, o.partition)
		b = binary.AppendUvarint(b, o.offset)
	}
	idFrom = len(b)
	if s.identEnc != nil {
		b = append(b, s.identEnc...)
	} else {
		b = binary.AppendUvarint(b, uint64(len(s.identities)))
		for _, id := range s.identities {
			b = appendIdentity(b, id)
		}
	}
	idTo = len(b)
	if s.flags&flagTombstone != 0 {
		b = appendString(b, s.mergedInto)
	}
	if s.flags&flagAbsorbed != 0 {
		b = binary.AppendUvarint(b, uint64(len(s.absorbed)))
		for _, a := range s.absorbed {
			b = appendString(b, a)
		}
	}
	return append(b, data...), idFrom, idTo
}

type reader struct {
	b   []byte
	err bool
}

// uvarint and varint return the decoder's value as is: on a short or
// overflowing input (n <= 0) it is already 0.
func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	r.took(n)
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	r.took(n)
	return v
}

// took moves past the n bytes a varint decoder read; n <= 0 means the input
// ended early or the value overflowed, which spoils the reader.
func (r *reader) took(n int) {
	if n <= 0 {
		r.fail()
		return
	}
	r.b = r.b[n:]
}

// fail spoils the reader: err stays set and every later read yields zero.
func (r *reader) fail() {
	r.err = true
	r.b = nil
}

func (r *reader) bytes(n uint64) []byte {
	if r.err || n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	v := r.bytes(1)
	if v == nil {
		return 0
	}
	return v[0]
}

func (r *reader) string() string { return string(r.bytes(r.uvarint())) }

// count reads a list length, bounded by the bytes left (every element takes
// at least one byte), so corrupt input cannot make decoding allocate much.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(n)
}

// decodeRecord parses an encoded record; data aliases b.
func decodeRecord(b []byte) (*snapshot, []byte, error) {
	r := reader{b: b}
	s := &snapshot{}
	s.version = r.uvarint()
	s.flags = r.byte()
	if s.flags&formatMask != 0 || s.version == 0 {
		return nil, nil, errCorrupt
	}
	if d := r.bytes(4); d != nil {
		s.deadline = binary.BigEndian.Uint32(d)
	}
	s.stage = r.uvarint()
	if s.stage != 0 {
		s.rank = r.varint()
	}
	if s.flags&flagBoards != 0 {
		n := r.count()
		s.boards = make([]boardEntry, 0, n)
		for i := 0; i < n && !r.err; i++ {
			s.boards = append(s.boards, boardEntry{r.uvarint(), r.varint()})
		}
	}
	if n := r.count(); n > 0 {
		s.offsets = make([]offsetEntry, 0, n)
		for i := 0; i < n && !r.err; i++ {
			s.offsets = append(s.offsets, offsetEntry{r.uvarint(), r.uvarint(), r.uvarint()})
		}
	}
	idStart := r.b
	if n := r.count(); n > 0 {
		s.identities = make([]string, 0, n)
		for i := 0; i < n && !r.err; i++ {
			k := r.byte()
			kind := int(k &^ 0x80)
			if kind >= len(identityKinds) {
				return nil, nil, errCorrupt
			}
			if k&0x80 != 0 {
				u := r.bytes(16)
				if r.err {
					break
				}
				s.identities = append(s.identities, identityKinds[kind]+formatUUID(u))
			} else {
				s.identities = append(s.identities, identityKinds[kind]+r.string())
			}
		}
	}
	if !r.err {
		s.identEnc = idStart[: len(idStart)-len(r.b) : len(idStart)-len(r.b)]
	}
	if s.flags&flagTombstone != 0 {
		s.mergedInto = r.string()
	}
	if s.flags&flagAbsorbed != 0 {
		n := r.count()
		for i := 0; i < n && !r.err; i++ {
			s.absorbed = append(s.absorbed, r.string())
		}
	}
	if r.err {
		return nil, nil, errCorrupt
	}
	return s, r.b, nil
}
