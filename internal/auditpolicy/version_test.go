package auditpolicy

import (
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		wantErr string
	}{
		{in: "v1.32.13", want: Version{1, 32, 13}},
		{in: "1.32", want: Version{1, 32, 0}},
		{in: "v1.28.3-gke.100", want: Version{1, 28, 3}},
		{in: "v1.32.13+k3s1", want: Version{1, 32, 13}},
		{in: "v1.33.0-alpha.1", want: Version{1, 33, 0}},
		{in: "v1.29.4-eks-036c24b", want: Version{1, 29, 4}},
		{in: " v1.16.0\n", want: Version{1, 16, 0}},
		{in: "V1.24.1", want: Version{1, 24, 1}},
		{in: "", wantErr: "want major.minor"},
		{in: "v1", wantErr: "want major.minor"},
		{in: "1.2.3.4", wantErr: "want major.minor"},
		{in: "v1.x", wantErr: `"x" is not a number`},
		{in: "v1..3", wantErr: "empty number"},
		{in: "v1.-3", wantErr: "empty number"},
		{in: "latest", wantErr: "want major.minor"},
		{in: "v1.99999999999999999999", wantErr: "out of range"},
		{in: "registry.k8s.io/kube-apiserver:v1.32.13", wantErr: "is not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseVersion(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseVersion(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseVersion(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestVersionString(t *testing.T) {
	tests := []struct {
		v    Version
		want string
	}{
		{Version{1, 32, 13}, "v1.32.13"},
		{Version{1, 16, 0}, "v1.16.0"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestAtLeast(t *testing.T) {
	tests := []struct {
		v            Version
		major, minor int
		want         bool
	}{
		{Version{1, 24, 0}, 1, 24, true},
		{Version{1, 23, 99}, 1, 24, false},
		{Version{1, 32, 13}, 1, 16, true},
		{Version{2, 0, 0}, 1, 99, true},
		{Version{0, 99, 0}, 1, 0, false},
	}
	for _, tt := range tests {
		if got := tt.v.AtLeast(tt.major, tt.minor); got != tt.want {
			t.Errorf("%v.AtLeast(%d, %d) = %v, want %v", tt.v, tt.major, tt.minor, got, tt.want)
		}
	}
}

func TestAPIVersion(t *testing.T) {
	tests := []struct {
		v       string
		want    string
		wantErr []string
	}{
		{v: "v1.16.0", want: APIVersionV1},
		{v: "v1.23.17", want: APIVersionV1},
		{v: "v1.24.0", want: APIVersionV1},
		{v: "v1.32.13", want: APIVersionV1},
		{v: "v1.15.12", wantErr: []string{"v1.15.12", "not supported", "1.16 or later"}},
		{v: "v1.12.0", wantErr: []string{"1.16 or later"}},
		{v: "v2.0.0", wantErr: []string{"only Kubernetes 1.x"}},
		{v: "v0.16.0", wantErr: []string{"only Kubernetes 1.x"}},
	}
	for _, tt := range tests {
		t.Run(tt.v, func(t *testing.T) {
			v, err := ParseVersion(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := APIVersion(v)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("APIVersion(%v) = %q, want an error", v, got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("APIVersion(%v) error %q does not say %q", v, err, w)
					}
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("APIVersion(%v) = %q, %v; want %q", v, got, err, tt.want)
			}
		})
	}
}
