package kubeyaml

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// basePod is a small kubeadm-shaped manifest; the rule tests describe their expected
// output as text replacements in it.
const basePod = `apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-apiserver
    - --secure-port=6443
    - --enable-bootstrap-token-auth=true
    - --profiling
    - --tls-min-version
    - VersionTLS12
    env:
    - name: POD_IP
      valueFrom:
        fieldRef:
          fieldPath: status.podIP
    - name: TZ
      value: UTC
    image: registry.k8s.io/kube-apiserver:v1.32.13
    name: kube-apiserver
    volumeMounts:
    - mountPath: /etc/kubernetes/pki
      name: k8s-certs
      readOnly: true
  hostNetwork: true
  volumes:
  - hostPath:
      path: /etc/kubernetes/pki
      type: DirectoryOrCreate
    name: k8s-certs
  - configMap:
      name: audit
    name: audit-cm
status: {}
`

// replace applies old→new pairs, each exactly once, to s.
func replace(s string, pairs ...string) string {
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.Count(s, pairs[i]) != 1 {
			panic(fmt.Sprintf("test bug: %q occurs %d times", pairs[i], strings.Count(s, pairs[i])))
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestEditStaticPodRules(t *testing.T) {
	const c = "kube-apiserver"
	tests := []struct {
		name    string
		src     string // basePod when empty
		e       PodEdit
		want    string // expected output; "" with wantErr == "" means unchanged
		wantErr string // substring of the error
	}{
		{
			name: "replace a flag in place",
			e:    PodEdit{Container: c, Flags: []Flag{{"secure-port", "7443"}}},
			want: replace(basePod, "- --secure-port=6443", "- --secure-port=7443"),
		},
		{
			name: "same values are left alone",
			e: PodEdit{Container: c, Flags: []Flag{{"secure-port", "6443"}, {"profiling", "true"}, {"tls-min-version", "VersionTLS12"}},
				Env:          []EnvVar{{"TZ", "UTC"}},
				VolumeMounts: []VolumeMount{{"k8s-certs", "/etc/kubernetes/pki", true}},
				Volumes:      []HostPathVolume{{"k8s-certs", "/etc/kubernetes/pki", "DirectoryOrCreate"}}},
		},
		{
			name: "remove a flag; removing an absent one is a no-op",
			e:    PodEdit{Container: c, RemoveFlags: []string{"enable-bootstrap-token-auth", "insecure-port"}},
			want: replace(basePod, "    - --enable-bootstrap-token-auth=true\n", ""),
		},
		{
			name: "remove a --name value pair",
			e:    PodEdit{Container: c, RemoveFlags: []string{"tls-min-version"}},
			want: replace(basePod, "    - --tls-min-version\n    - VersionTLS12\n", ""),
		},
		{
			name: "set a --name value pair keeps its form",
			e:    PodEdit{Container: c, Flags: []Flag{{"tls-min-version", "VersionTLS13"}}},
			want: replace(basePod, "    - VersionTLS12\n", "    - VersionTLS13\n"),
		},
		{
			name: "a value starting with a dash switches the pair to --name=value",
			e:    PodEdit{Container: c, Flags: []Flag{{"tls-min-version", "-1"}}},
			want: replace(basePod, "    - --tls-min-version\n    - VersionTLS12\n", "    - --tls-min-version=-1\n"),
		},
		{
			name: "a bare flag set to false",
			e:    PodEdit{Container: c, Flags: []Flag{{"profiling", "false"}}},
			want: replace(basePod, "- --profiling\n", "- --profiling=false\n"),
		},
		{
			name: "new flags are appended in order",
			e:    PodEdit{Container: c, Flags: []Flag{{"b", "2"}, {"a", "1"}}},
			want: replace(basePod, "    - VersionTLS12\n", "    - VersionTLS12\n    - --b=2\n    - --a=1\n"),
		},
		{
			name: "flag values that need quoting",
			e:    PodEdit{Container: c, Flags: []Flag{{"empty", ""}, {"colon", "a: b"}, {"hash", "v #c"}, {"bool", "true"}, {"num", "1.0"}}},
			want: replace(basePod, "    - VersionTLS12\n", "    - VersionTLS12\n    - --empty=\n    - '--colon=a: b'\n    - '--hash=v #c'\n    - --bool=true\n    - --num=1.0\n"),
		},
		{
			name: "env valueFrom becomes value",
			e:    PodEdit{Container: c, Env: []EnvVar{{"POD_IP", "10.0.0.1"}}},
			want: replace(basePod, "      valueFrom:\n        fieldRef:\n          fieldPath: status.podIP\n", "      value: 10.0.0.1\n"),
		},
		{
			name: "env values that YAML would not read as strings are quoted",
			e: PodEdit{Container: c, Env: []EnvVar{{"TZ", "true"}, {"F", "1.0"}, {"E", ""}, {"Y", "yes"}, {"N", "null"},
				{"T", "~"}, {"C", "a: b"}, {"H", "x #y"}, {"S", " lead"}, {"O", "0x1F"}, {"U", "1_000"}, {"NL", "a\nb"}}},
			want: replace(basePod, "      value: UTC\n", `      value: "true"
    - name: F
      value: "1.0"
    - name: E
      value: ""
    - name: "Y"
      value: "yes"
    - name: "N"
      value: "null"
    - name: T
      value: "~"
    - name: C
      value: 'a: b'
    - name: H
      value: 'x #y'
    - name: S
      value: ' lead'
    - name: O
      value: "0x1F"
    - name: U
      value: "1_000"
    - name: NL
      value: "a\nb"
`),
		},
		{
			name: "a non-string env value is rewritten as a string",
			src:  replace(basePod, "value: UTC", "value: 1.0"),
			e:    PodEdit{Container: c, Env: []EnvVar{{"TZ", "1.0"}}},
			want: replace(basePod, "value: UTC", `value: "1.0"`),
		},
		{
			name: "readOnly switched in place, an unset type removed",
			e: PodEdit{Container: c, VolumeMounts: []VolumeMount{{"k8s-certs", "/etc/kubernetes/pki", false}},
				Volumes: []HostPathVolume{{"k8s-certs", "/etc/kubernetes/pki", ""}}},
			want: replace(basePod, "      readOnly: true\n", "      readOnly: false\n", "      type: DirectoryOrCreate\n", ""),
		},
		{
			name: "a trailing comment survives a replaced value",
			src:  replace(basePod, "- --secure-port=6443", "- --secure-port=6443  # kubeadm default"),
			e:    PodEdit{Container: c, Flags: []Flag{{"secure-port", "7443"}}},
			want: replace(basePod, "- --secure-port=6443", "- --secure-port=7443  # kubeadm default"),
		},
		{
			name: "quoted neighbours: new items are quoted alike",
			src:  replace(basePod, "    - VersionTLS12\n", "    - 'VersionTLS12'\n"),
			e:    PodEdit{Container: c, Flags: []Flag{{"a", "b"}}},
			want: replace(basePod, "    - VersionTLS12\n", "    - 'VersionTLS12'\n    - '--a=b'\n"),
		},
		{
			name: "flow-style command",
			src:  replace(basePod, "  - command:\n    - kube-apiserver\n    - --secure-port=6443\n    - --enable-bootstrap-token-auth=true\n    - --profiling\n    - --tls-min-version\n    - VersionTLS12\n", "  - command: [kube-apiserver, --secure-port=6443, --profiling]\n"),
			e:    PodEdit{Container: c, Flags: []Flag{{"secure-port", "7443"}, {"authorization-mode", "Node,RBAC"}}, RemoveFlags: []string{"profiling"}},
			want: replace(basePod, "  - command:\n    - kube-apiserver\n    - --secure-port=6443\n    - --enable-bootstrap-token-auth=true\n    - --profiling\n    - --tls-min-version\n    - VersionTLS12\n", "  - command: [kube-apiserver, --secure-port=7443, '--authorization-mode=Node,RBAC']\n"),
		},
		{
			name: "columns count characters: non-ASCII text before the edited value",
			src:  replace(basePod, "  - command:\n    - kube-apiserver\n    - --secure-port=6443\n    - --enable-bootstrap-token-auth=true\n    - --profiling\n    - --tls-min-version\n    - VersionTLS12\n", "  - command: [kube-apiserver, --cluster-name=Zürich-集群, --secure-port=6443]\n"),
			e:    PodEdit{Container: c, Flags: []Flag{{"secure-port", "7443"}, {"region", "日本"}}},
			want: replace(basePod, "  - command:\n    - kube-apiserver\n    - --secure-port=6443\n    - --enable-bootstrap-token-auth=true\n    - --profiling\n    - --tls-min-version\n    - VersionTLS12\n", "  - command: [kube-apiserver, --cluster-name=Zürich-集群, --secure-port=7443, --region=日本]\n"),
		},
		{
			name: "no command or args: args is created where kubeadm would put it",
			src:  replace(basePod, "  - command:\n    - kube-apiserver\n    - --secure-port=6443\n    - --enable-bootstrap-token-auth=true\n    - --profiling\n    - --tls-min-version\n    - VersionTLS12\n    env:", "  - env:"),
			e:    PodEdit{Container: c, Flags: []Flag{{"v", "2"}}},
			want: replace(basePod, "  - command:\n    - kube-apiserver\n    - --secure-port=6443\n    - --enable-bootstrap-token-auth=true\n    - --profiling\n    - --tls-min-version\n    - VersionTLS12\n    env:", "  - args:\n    - --v=2\n    env:"),
		},
		{
			name: "removing every flag of args removes args",
			src:  replace(basePod, "    - --secure-port=6443\n    - --enable-bootstrap-token-auth=true\n    - --profiling\n    - --tls-min-version\n    - VersionTLS12\n", "    args:\n    - --secure-port=6443\n"),
			e:    PodEdit{Container: c, RemoveFlags: []string{"secure-port"}},
			want: replace(basePod, "    - --secure-port=6443\n    - --enable-bootstrap-token-auth=true\n    - --profiling\n    - --tls-min-version\n    - VersionTLS12\n", ""),
		},
		{
			name: "flags in args: new ones go to args, found ones anywhere",
			src:  replace(basePod, "    - kube-apiserver\n    - --secure-port=6443\n    - --enable-bootstrap-token-auth=true\n    - --profiling\n", "    - kube-apiserver\n    - --profiling\n    args:\n    - --secure-port=6443\n    - --enable-bootstrap-token-auth=true\n"),
			e:    PodEdit{Container: c, Flags: []Flag{{"profiling", "false"}, {"x", "y"}}},
			want: replace(basePod, "    - kube-apiserver\n    - --secure-port=6443\n    - --enable-bootstrap-token-auth=true\n    - --profiling\n", "    - kube-apiserver\n    - --profiling=false\n    args:\n    - --secure-port=6443\n    - --enable-bootstrap-token-auth=true\n",
				"    - VersionTLS12\n", "    - VersionTLS12\n    - --x=y\n"),
		},
		{
			name: "env is created before image, above the comment that describes image",
			src:  replace(basePod, "    env:\n    - name: POD_IP\n      valueFrom:\n        fieldRef:\n          fieldPath: status.podIP\n    - name: TZ\n      value: UTC\n    image:", "    # pinned by the platform team\n    image:"),
			e:    PodEdit{Container: c, Env: []EnvVar{{"A", "b"}}},
			want: replace(basePod, "    env:\n    - name: POD_IP\n      valueFrom:\n        fieldRef:\n          fieldPath: status.podIP\n    - name: TZ\n      value: UTC\n    image:", "    env:\n    - name: A\n      value: b\n    # pinned by the platform team\n    image:"),
		},
		{
			name: "an empty env list is filled",
			src:  replace(basePod, "    env:\n    - name: POD_IP\n      valueFrom:\n        fieldRef:\n          fieldPath: status.podIP\n    - name: TZ\n      value: UTC\n", "    env: [] # none yet\n"),
			e:    PodEdit{Container: c, Env: []EnvVar{{"A", "b"}}},
			want: replace(basePod, "    env:\n    - name: POD_IP\n      valueFrom:\n        fieldRef:\n          fieldPath: status.podIP\n    - name: TZ\n      value: UTC\n", "    env: # none yet\n    - name: A\n      value: b\n"),
		},
		{
			name: "volumeMounts and volumes are created at the end",
			src:  "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: x\n    name: kube-apiserver\n  hostNetwork: true\n",
			e:    PodEdit{Container: c, VolumeMounts: []VolumeMount{{"logs", "/var/log", false}}, Volumes: []HostPathVolume{{"logs", "/var/log", "Directory"}}},
			want: "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: x\n    name: kube-apiserver\n    volumeMounts:\n    - mountPath: /var/log\n      name: logs\n  hostNetwork: true\n  volumes:\n  - hostPath:\n      path: /var/log\n      type: Directory\n    name: logs\n",
		},
		{
			name: "unsorted keys: new keys go after items appended to the last entry",
			src:  "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: kube-apiserver\n    image: x\n    volumeMounts:\n    - mountPath: /a\n      name: a\n  volumes:\n  - name: a\n    emptyDir: {}\n  - name: b\n    emptyDir: {}\n",
			e:    PodEdit{Container: c, Env: []EnvVar{{"A", "b"}}, VolumeMounts: []VolumeMount{{"b", "/b", false}}},
			want: "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: kube-apiserver\n    image: x\n    volumeMounts:\n    - mountPath: /a\n      name: a\n    - mountPath: /b\n      name: b\n    env:\n    - name: A\n      value: b\n  volumes:\n  - name: a\n    emptyDir: {}\n  - name: b\n    emptyDir: {}\n",
		},
		{
			name: "no final newline",
			src:  "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: x\n    name: kube-apiserver\n  volumes:\n  - emptyDir: {}\n    name: tmp",
			e:    PodEdit{Container: c, Volumes: []HostPathVolume{{"logs", "/var/log", ""}}},
			want: "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: x\n    name: kube-apiserver\n  volumes:\n  - emptyDir: {}\n    name: tmp\n  - hostPath:\n      path: /var/log\n    name: logs",
		},
		{
			name: "a leading document marker, a BOM and comments are kept",
			src:  "\ufeff# managed\n---\n" + basePod,
			e:    PodEdit{Container: c, Flags: []Flag{{"secure-port", "7443"}}},
			want: "\ufeff# managed\n---\n" + replace(basePod, "- --secure-port=6443", "- --secure-port=7443"),
		},
		{
			name: "CRLF line endings are kept",
			src:  strings.ReplaceAll(basePod, "\n", "\r\n"),
			e:    PodEdit{Container: c, Flags: []Flag{{"secure-port", "7443"}, {"a", "b"}}, Env: []EnvVar{{"POD_IP", "x"}}},
			want: strings.ReplaceAll(replace(basePod, "- --secure-port=6443", "- --secure-port=7443", "    - VersionTLS12\n", "    - VersionTLS12\n    - --a=b\n",
				"      valueFrom:\n        fieldRef:\n          fieldPath: status.podIP\n", "      value: x\n"), "\n", "\r\n"),
		},
		{
			name: "4-space indented sequences are copied for new keys",
			src:  "apiVersion: v1\nkind: Pod\nspec:\n    containers:\n        - command:\n              - kube-apiserver\n          name: kube-apiserver\n",
			e:    PodEdit{Container: c, Env: []EnvVar{{"A", "b"}}, Flags: []Flag{{"a", "b"}}},
			want: "apiVersion: v1\nkind: Pod\nspec:\n    containers:\n        - command:\n              - kube-apiserver\n              - --a=b\n          env:\n              - name: A\n                value: b\n          name: kube-apiserver\n",
		},

		// Refusals.
		{name: "duplicate flag", src: replace(basePod, "    - --profiling\n", "    - --profiling\n    - --secure-port=443\n"),
			e: PodEdit{Container: c}, wantErr: "line 13: duplicate flag --secure-port (also on line 10)"},
		{name: "duplicate flag across command and args", src: replace(basePod, "    env:\n", "    args:\n    - --profiling=false\n    env:\n"),
			e: PodEdit{Container: c}, wantErr: "line 16: duplicate flag --profiling (also on line 12)"},
		{name: "missing container", e: PodEdit{Container: "etcd"},
			wantErr: `line 8: no container "etcd" in spec.containers (found: kube-apiserver)`},
		{name: "not YAML", src: "apiVersion: v1\nkind: Pod\nspec: [\n  a: b\n", e: PodEdit{Container: c}, wantErr: "invalid YAML"},
		{name: "tab indentation", src: "apiVersion: v1\n\tkind: Pod\n", e: PodEdit{Container: c}, wantErr: "invalid YAML"},
		{name: "empty file", src: "# nothing here\n", e: PodEdit{Container: c}, wantErr: "empty document"},
		{name: "multiple documents", src: basePod + "---\n" + basePod, e: PodEdit{Container: c},
			wantErr: "line 38: multiple YAML documents: expected exactly one"},
		{name: "a trailing document marker is a second document", src: basePod + "---\n", e: PodEdit{Container: c},
			wantErr: "multiple YAML documents"},
		{name: "not a Pod", src: replace(basePod, "kind: Pod", "kind: Deployment"), e: PodEdit{Container: c},
			wantErr: `line 2: kind is "Deployment", not Pod`},
		{name: "not a mapping", src: "- a\n- b\n", e: PodEdit{Container: c}, wantErr: "not a Kubernetes object"},
		{name: "wrong apiVersion", src: replace(basePod, "apiVersion: v1", "apiVersion: v2"), e: PodEdit{Container: c},
			wantErr: `line 1: Pod apiVersion is "v2"; supported: v1`},
		{name: "volumeMount without a volume in the manifest", src: replace(basePod, "      name: k8s-certs\n      readOnly", "      name: k8s-cert\n      readOnly"),
			e: PodEdit{Container: c}, wantErr: `line 26: volumeMount "k8s-cert" of container "kube-apiserver" has no volume of that name in spec.volumes`},
		{name: "volumeMount without a volume in the edit", e: PodEdit{Container: c, VolumeMounts: []VolumeMount{{"logs", "/var/log", false}}},
			wantErr: `volumeMount "logs" has no volume of that name in the manifest or in the edit`},
		{name: "a same-name volume that is not hostPath", e: PodEdit{Container: c, Volumes: []HostPathVolume{{"audit-cm", "/x", ""}}},
			wantErr: `line 34: volume "audit-cm" is a configMap volume, not a hostPath volume; refusing to replace it`},
		{name: "two volumes mounted at one path", e: PodEdit{Container: c, VolumeMounts: []VolumeMount{{"audit-cm", "/etc/kubernetes/pki", false}}},
			wantErr: "would be invalid, so nothing was changed (line numbers of the edited text): line 28: container \"kube-apiserver\" mounts two volumes at /etc/kubernetes/pki (also on line 25)"},
		{name: "duplicate env name", src: replace(basePod, "- name: TZ", "- name: POD_IP"), e: PodEdit{Container: c},
			wantErr: `line 20: duplicate env name "POD_IP" (also on line 16)`},
		{name: "duplicate volume name", src: replace(basePod, "    name: audit-cm", "    name: k8s-certs"), e: PodEdit{Container: c},
			wantErr: `duplicate volume name "k8s-certs"`},
		{name: "duplicate key", src: replace(basePod, "  hostNetwork: true\n", "  hostNetwork: true\n  hostNetwork: false\n"), e: PodEdit{Container: c},
			wantErr: `line 29: duplicate key "hostNetwork" (also on line 28)`},
		{name: "env with both value and valueFrom", src: replace(basePod, "      valueFrom:", "      value: x\n      valueFrom:"), e: PodEdit{Container: c},
			wantErr: `env "POD_IP" has both value and valueFrom`},
		{name: "mixed line endings", src: strings.Replace(basePod, "\n", "\r\n", 3), e: PodEdit{Container: c},
			wantErr: "mixed line endings (3 CRLF, 34 LF)"},
		{name: "a multi-line value is not edited", src: replace(basePod, "- --secure-port=6443\n", "- --secure-port=6443\n      443\n"),
			e: PodEdit{Container: c, Flags: []Flag{{"secure-port", "1"}}}, wantErr: "line 10: cannot edit a value that spans several lines"},
		{name: "an anchored value is not edited", src: replace(basePod, "- --secure-port=6443", "- &port --secure-port=6443"),
			e: PodEdit{Container: c, Flags: []Flag{{"secure-port", "1"}}}, wantErr: "line 10: cannot edit a value that has an anchor or a tag"},
		{name: "no flags are added after a -- terminator", src: replace(basePod, "    - VersionTLS12\n", "    - VersionTLS12\n    - --\n    - positional\n"),
			e: PodEdit{Container: c, Flags: []Flag{{"a", "b"}}}, wantErr: `line 15: cannot add flags: "--" ends the flags here and what follows is positional`},
		{name: "flag both set and removed", e: PodEdit{Container: c, Flags: []Flag{{"a", "1"}}, RemoveFlags: []string{"a"}},
			wantErr: "edit: flag --a is both set and removed"},
		{name: "malformed flag name in the edit", e: PodEdit{Container: c, Flags: []Flag{{"--a", "1"}}}, wantErr: `edit: flag "--a": too many dashes`},
		{name: "line break in a flag value", e: PodEdit{Container: c, Flags: []Flag{{"a", "1\n2"}}}, wantErr: "contains a line break"},
		{name: "no container name", e: PodEdit{}, wantErr: "no container name given"},
		{name: "malformed flag in the manifest", src: replace(basePod, "- --profiling", "- --=x"), e: PodEdit{Container: c},
			wantErr: `line 12: malformed flag "--=x": empty name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := []byte(tc.src)
			if tc.src == "" {
				src = []byte(basePod)
			}
			out, err := EditStaticPod(src, tc.e)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				var ke *Error
				if !errors.As(err, &ke) {
					t.Errorf("error %T is not a *kubeyaml.Error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if !bytes.Equal(out, src) || &out[0] != &src[0] {
					t.Fatalf("unchanged input not returned as is:\n%s", out)
				}
				return
			}
			if string(out) != tc.want {
				t.Fatalf("got:\n%s\nwant:\n%s", out, tc.want)
			}
			again, err := EditStaticPod(out, tc.e)
			if err != nil || !bytes.Equal(again, out) {
				t.Errorf("not idempotent: %v", err)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Line: 14, Msg: "duplicate flag --audit-log-path (also on line 9)"}, "line 14: duplicate flag --audit-log-path (also on line 9)"},
		{&Error{Msg: "empty document"}, "empty document"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestValidateStaticPod(t *testing.T) {
	for _, name := range []string{"v1.32", "v1.24", "indent4", "args", "audit-existing"} {
		t.Run(name, func(t *testing.T) {
			if err := ValidateStaticPod(readTestdata(t, "kube-apiserver."+name+".yaml"), "kube-apiserver"); err != nil {
				t.Error(err)
			}
		})
	}
	tests := []struct {
		name, src, container, wantErr string
	}{
		{"no spec", "apiVersion: v1\nkind: Pod\n", "c", "line 1: no spec"},
		{"no containers", "apiVersion: v1\nkind: Pod\nspec:\n  hostNetwork: true\n", "c", "line 4: spec.containers is missing or empty"},
		{"containers not a list", "apiVersion: v1\nkind: Pod\nspec:\n  containers: x\n", "c", `line 4: spec.containers must be a list, found "x"`},
		{"container without name", "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: x\n", "c", "line 5: spec.containers[0] has no name"},
		{"duplicate container across init containers", "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: c\n  initContainers:\n  - name: c\n", "c",
			`line 7: duplicate container name "c" (also on line 5)`},
		{"mount of another container without volume", "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: c\n  - name: d\n    volumeMounts:\n    - name: v\n      mountPath: /v\n", "c",
			`line 8: volumeMount "v" of container "d" has no volume of that name in spec.volumes`},
		{"duplicate volumeMount name", "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: c\n    volumeMounts:\n    - {name: v, mountPath: /a}\n    - {name: v, mountPath: /b}\n  volumes:\n  - {name: v, emptyDir: {}}\n", "c",
			`line 8: duplicate volumeMount name "v" (also on line 7)`},
		{"command item not a string", "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: c\n    command:\n    - [a]\n", "c", "line 7: command[0] must be a single value, found a list"},
		{"alias in the structure", "apiVersion: v1\nkind: Pod\nx: &s\n  containers:\n  - name: c\nspec: *s\n", "c", "line 6: spec must be a mapping, found an alias (*s)"},
		{"hostPath without path", "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: c\n  volumes:\n  - name: v\n    hostPath:\n      type: Directory\n", "c", `line 9: hostPath volume "v" has no path`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateStaticPod([]byte(tc.src), tc.container)
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseContainer(t *testing.T) {
	c, err := ParseContainer(readTestdata(t, "kube-apiserver.audit-existing.yaml"), "kube-apiserver")
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "kube-apiserver" || c.Image != "registry.k8s.io/kube-apiserver:v1.29.15" || len(c.Command) != 33 || len(c.Args) != 0 {
		t.Errorf("got name %q image %q, %d command and %d args items", c.Name, c.Image, len(c.Command), len(c.Args))
	}
	wantEnv := []EnvVar{{"aliyun_logs_audit-c123", ""}, {"aliyun_logs_audit-c123_jsonfile", "true"}, {"TZ", "Asia/Shanghai"}}
	if fmt.Sprint(c.Env) != fmt.Sprint(wantEnv) {
		t.Errorf("env %v, want %v", c.Env, wantEnv)
	}
	flags, err := c.Flags()
	if err != nil {
		t.Fatal(err)
	}
	if len(flags) != 31 || flags[3] != (Flag{"audit-log-maxbackup", "3"}) {
		t.Errorf("got %d flags, the 4th %v", len(flags), flags[3])
	}

	a, err := ParseContainer(readTestdata(t, "kube-apiserver.args.yaml"), "kube-apiserver")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a.Command) != "[kube-apiserver]" || len(a.Args) != 27 {
		t.Errorf("command %v, %d args", a.Command, len(a.Args))
	}

	// ParseContainer is lenient; Flags reports duplicates with their source lines.
	dup, err := ParseContainer([]byte(replace(basePod, "    - --profiling\n", "    - --profiling\n    - --secure-port=443\n")), "kube-apiserver")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dup.Flags(); err == nil || err.Error() != "line 13: duplicate flag --secure-port (also on line 10)" {
		t.Errorf("duplicate flags: %v", err)
	}

	if _, err := ParseContainer(readTestdata(t, "kube-apiserver.v1.32.yaml"), "etcd"); err == nil ||
		err.Error() != `line 14: no container "etcd" in spec.containers (found: kube-apiserver)` {
		t.Errorf("missing container: %v", err)
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name          string
		command, args []string
		want          string
		wantErr       string
	}{
		{"executable skipped", []string{"kube-apiserver", "--a=1", "--b=x=y"}, nil, "[{a 1} {b x=y}]", ""},
		{"separate value", []string{"kube-apiserver", "--a", "1", "--b"}, nil, "[{a 1} {b true}]", ""},
		{"bare flag before another flag", []string{"kube-apiserver", "--a", "--b=2"}, nil, "[{a true} {b 2}]", ""},
		{"value that starts with a dash is not taken", []string{"x", "--a", "-1"}, nil, "[{a true} {1 true}]", ""},
		{"single dash", []string{"x", "-v=2"}, nil, "[{v 2}]", ""},
		{"command and args concatenate", []string{"kube-apiserver", "--a"}, []string{"1", "--c=3"}, "[{a 1} {c 3}]", ""},
		{"args only", nil, []string{"--a=1"}, "[{a 1}]", ""},
		{"command of flags only", []string{"--a=1"}, nil, "[{a 1}]", ""},
		{"terminator", []string{"x", "--a=1", "--", "--b=2"}, nil, "[{a 1}]", ""},
		{"positional arguments ignored", []string{"x", "serve", "--a=1"}, nil, "[{a 1}]", ""},
		{"empty value", []string{"x", "--a="}, nil, "[{a }]", ""},
		{"duplicate", []string{"x", "--a=1"}, []string{"--a=2"}, "", "duplicate flag --a (command[1] and args[0])"},
		{"duplicate with single dash", []string{"x", "--v=1", "-v=2"}, nil, "", "duplicate flag -v (command[1] and command[2])"},
		{"empty name", []string{"x", "--=1"}, nil, "", `malformed flag "--=1": empty name`},
		{"three dashes", []string{"x", "---a"}, nil, "", `malformed flag "---a": too many dashes`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Container{Command: tc.command, Args: tc.args}
			got, err := c.Flags()
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != tc.want {
				t.Errorf("got %v, want %s", got, tc.want)
			}
		})
	}
}
