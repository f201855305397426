package store

import (
	"sort"
	"testing"
	"time"
)

func TestDBTime_ReadsEveryStoredFormAsUTC(t *testing.T) {
	want := time.Date(2031, 5, 6, 1, 38, 9, 123000000, time.UTC)
	cases := []struct {
		name string
		src  any
	}{
		{"TimeInOtherZone", want.In(time.FixedZone("IST", 5*3600+1800))},
		{"ISOWithZ", "2031-05-06T01:38:09.123Z"},
		{"ISOWithOffset", "2031-05-06T03:38:09.123+02:00"},
		{"SpaceWithColonOffset", "2031-05-06 03:38:09.123+02:00"},
		{"SpaceWithShortOffset", "2031-05-06 01:38:09.123+00"},
		{"NoZoneIsUTC", "2031-05-06 01:38:09.123"},
		{"ISONoZoneIsUTC", "2031-05-06T01:38:09.123"},
		{"GoStringForm", "2031-05-06 03:38:09.123 +0200 CEST"},
		{"Bytes", []byte("2031-05-06T01:38:09.123Z")},
		{"UnixMillis", want.UnixMilli()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got dbTime
			if err := got.Scan(tc.src); err != nil {
				t.Fatal(err)
			}
			assertTime(t, "scanned", time.Time(got), want)
		})
	}
}

func TestDBTime_RejectsNullAndGarbage(t *testing.T) {
	for _, src := range []any{nil, "yesterday", 1.5, true} {
		var got dbTime
		if err := got.Scan(src); err == nil {
			t.Errorf("Scan(%#v) = %v, want an error", src, time.Time(got))
		}
	}
}

func TestFormatSQLiteTime_TextOrderIsTimeOrder(t *testing.T) {
	base := time.Date(2030, 12, 31, 23, 59, 59, 0, time.UTC)
	var times []time.Time
	for _, d := range []time.Duration{0, time.Millisecond, 999 * time.Millisecond, time.Second, 10 * time.Second, 48 * time.Hour, 400 * 24 * time.Hour} {
		times = append(times, base.Add(d))
	}
	var texts []string
	for _, tm := range times {
		texts = append(texts, formatSQLiteTime(tm.In(time.FixedZone("W", -9*3600))))
	}
	if !sort.StringsAreSorted(texts) {
		t.Errorf("not sorted: %v", texts)
	}
	if texts[0] != "2030-12-31T23:59:59.000Z" {
		t.Errorf("format = %q, want 2030-12-31T23:59:59.000Z", texts[0])
	}
}

func TestNormTime_IsUTCMilliseconds(t *testing.T) {
	in := time.Date(2031, 1, 1, 12, 0, 0, 987654321, time.FixedZone("X", 3600))
	got := normTime(in)
	if got.Location() != time.UTC || got.Nanosecond() != 987000000 || got.Hour() != 11 {
		t.Errorf("normTime(%v) = %v", in, got)
	}
}
