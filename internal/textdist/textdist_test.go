package textdist

import "testing"

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"verb", "verbs", 1}, {"levle", "level", 1}, {"masters", "mastrs", 1},
		{"cn-hangzou", "cn-hangzhou", 1}, {"kitten", "sitting", 3}, {"日本", "日本語", 1},
	} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	long := string(make([]byte, 65))
	if Distance(long, "a") < 1000 {
		t.Error("long inputs should be far from everything")
	}
}
