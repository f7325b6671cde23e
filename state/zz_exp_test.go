package state

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func BenchmarkExp(b *testing.B) {
	orig := writeSrc
	variants := map[string]string{
		"v0-full":   orig,
		"v1-nozadd": strings.Replace(orig, "    if #t > 1 and #b > 1 then", "    if false then", 1),
		"v2-nohset": strings.Replace(orig, "    redis.call('HSET', rk, id, rec)\n", "", 1),
		"v3-parse":  strings.Replace(strings.Replace(strings.Replace(orig, "  local cur = redis.call('HGET', rk, id)\n", "  local cur = false\n", 1), "    redis.call('HSET', rk, id, rec)\n", "", 1), "    if #t > 1 and #b > 1 then", "    if false then", 1),
	}
	for _, name := range []string{"v0-full", "v1-nozadd", "v2-nohset", "v3-parse", "v0-full"} {
		src := variants[name]
		b.Run(name, func(b *testing.B) {
			f := setupBench(b)
			old := writeLua
			writeLua = redis.NewScript(src)
			writeLua.Load(b.Context(), f.st.rdb)
			defer func() { writeLua = old }()
			cpu0 := redisCPU(b, f.st.rdb)
			n := 0
			for it := 0; it < b.N; it++ {
				idx := f.batch(500)
				us := make([]Update, len(idx))
				for k, i := range idx {
					us[k] = f.update(i, false)
				}
				res, err := f.st.Write(b.Context(), us)
				if err != nil {
					b.Fatal(err)
				}
				for k, r := range res {
					if r.Err == nil && name != "v3-parse" && name != "v2-nohset" && name != "v1-nozadd" {
						f.recs[idx[k]] = r.Record
					}
				}
				n += len(idx)
			}
			b.ReportMetric((redisCPU(b, f.st.rdb)-cpu0)*1e6/float64(n), "redis-µs/update")
		})
	}
}
