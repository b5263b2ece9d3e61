package netsh

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseShowV4ToV4Samples(t *testing.T) {
	tests := []struct {
		file string
		want []Entry
	}{
		{"portproxy_en.txt", []Entry{
			{"*", 6443, "192.168.10.21", 6443},
			{"0.0.0.0", 2222, "172.23.21.232", 22},
			{"10.0.0.5", 8443, "apiserver.corp.example.com", 443},
			{"127.0.0.1", 5433, "wsl-host", 5432},
		}},
		{"portproxy_de.txt", []Entry{
			{"*", 6443, "192.168.178.20", 6443},
			{"192.168.178.5", 16443, "k8s-master-1", 6443},
		}},
		{"portproxy_fr_cp850.txt", []Entry{
			{"0.0.0.0", 8001, "172.27.57.198", 8001},
		}},
		{"portproxy_zh_gbk.txt", []Entry{
			{"*", 9000, "172.17.17.232", 9000},
			{"10.160.9.100", 50002, "172.17.201.231", 50002},
		}},
		{"portproxy_empty.txt", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseShowV4ToV4(readTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestParseShowV4ToV4Text(t *testing.T) {
	const head = "\nListen on ipv4:             Connect to ipv4:\n\nAddress         Port        Address         Port\n--------------- ----------  --------------- ----------\n"
	one := []Entry{{"*", 80, "10.0.0.1", 8080}}
	tests := []struct {
		name    string
		out     string
		want    []Entry
		wantErr string
	}{
		{"empty string", "", nil, ""},
		{"blank lines only", "\n \r\n\t\n", nil, ""},
		{"header without rows", head, nil, ""},
		{"LF only", head + "*    80    10.0.0.1    8080\n", one, ""},
		{"lone CR", strings.ReplaceAll(head+"*    80    10.0.0.1    8080\n", "\n", "\r"), one, ""},
		{"tabs between columns", head + "*\t80\t10.0.0.1\t8080\n", one, ""},
		{"UTF-16LE from PowerShell", utf16le(head + "*    80    10.0.0.1    8080\r\n"), one, ""},
		{"opaque header bytes", "\x8a\xff\xfe\x00 ipv4:\r\n\xb5\xd8\r\n" + "--------------- ----------  --------------- ----------\r\n*    80    10.0.0.1    8080\r\n", one, ""},
		{"error message instead of a table", "The following command was not found: interface portproxy show v4tov4.\r\n", nil, "no table"},
		{"five columns", head + "*  80  10.0.0.1  8080  tcp\n", nil, "5 fields"},
		{"port not a number", head + "*  http  10.0.0.1  8080\n", nil, "not a port number"},
		{"port zero", head + "*  0  10.0.0.1  8080\n", nil, "between 1 and 65535"},
		{"port too large", head + "*  80  10.0.0.1  65536\n", nil, "between 1 and 65535"},
		{"signed port", head + "*  +80  10.0.0.1  8080\n", nil, "not a port number"},
		{"odd address character", head + "*  80  10.0.0.1&x  8080\n", nil, "unexpected character"},
		{"two tables (show all)", head + "*  80  10.0.0.1  8080\n" + head, nil, "second table"},
		{"separator of another command", "-------- --------\n", nil, "2 columns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseShowV4ToV4(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func utf16le(s string) string {
	b := []byte{0xff, 0xfe}
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return string(b)
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want Entry
	}{
		{Entry{"*", 1, "Host.Example", 2}, Entry{"0.0.0.0", 1, "host.example", 2}},
		{Entry{"0.0.0.0", 1, "10.0.0.1", 2}, Entry{"0.0.0.0", 1, "10.0.0.1", 2}},
		{Entry{"MyHost", 1, "10.0.0.1", 2}, Entry{"myhost", 1, "10.0.0.1", 2}},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func texts(cmds []Command) []string {
	var out []string
	for _, c := range cmds {
		out = append(out, c.Text)
	}
	return out
}

func TestPlan(t *testing.T) {
	want := Entry{"*", 6443, "192.168.1.10", 6443}
	tests := []struct {
		name    string
		current []Entry
		want    Entry
		absent  bool
		cmds    []string
	}{
		{"missing", nil, want, false, []string{
			"netsh interface portproxy add v4tov4 listenport=6443 listenaddress=* connectaddress=192.168.1.10 connectport=6443 protocol=tcp",
		}},
		{"identical", []Entry{want}, want, false, nil},
		{"other ports and listeners untouched", []Entry{
			{"*", 8443, "192.168.1.10", 6443},
			{"10.0.0.5", 6443, "10.9.9.9", 6443},
		}, want, false, []string{
			"netsh interface portproxy add v4tov4 listenport=6443 listenaddress=* connectaddress=192.168.1.10 connectport=6443 protocol=tcp",
		}},
		{"same listener, other target", []Entry{{"*", 6443, "192.168.1.11", 6443}}, want, false, []string{
			"netsh interface portproxy set v4tov4 listenport=6443 listenaddress=* connectaddress=192.168.1.10 connectport=6443 protocol=tcp",
		}},
		{"same listener, other connect port", []Entry{{"*", 6443, "192.168.1.10", 16443}}, want, false, []string{
			"netsh interface portproxy set v4tov4 listenport=6443 listenaddress=* connectaddress=192.168.1.10 connectport=6443 protocol=tcp",
		}},
		{"0.0.0.0 spelling already right", []Entry{{"0.0.0.0", 6443, "192.168.1.10", 6443}}, want, false, nil},
		{"0.0.0.0 spelling set in place", []Entry{{"0.0.0.0", 6443, "192.168.1.11", 6443}}, want, false, []string{
			"netsh interface portproxy set v4tov4 listenport=6443 listenaddress=0.0.0.0 connectaddress=192.168.1.10 connectport=6443 protocol=tcp",
		}},
		{"both spellings: keep the right one, delete the collision", []Entry{
			{"0.0.0.0", 6443, "192.168.1.99", 6443},
			{"*", 6443, "192.168.1.10", 6443},
		}, want, false, []string{
			"netsh interface portproxy delete v4tov4 listenport=6443 listenaddress=0.0.0.0",
		}},
		{"both spellings, both wrong: set ours, delete the other", []Entry{
			{"0.0.0.0", 6443, "192.168.1.98", 6443},
			{"*", 6443, "192.168.1.99", 6443},
		}, want, false, []string{
			"netsh interface portproxy set v4tov4 listenport=6443 listenaddress=* connectaddress=192.168.1.10 connectport=6443 protocol=tcp",
			"netsh interface portproxy delete v4tov4 listenport=6443 listenaddress=0.0.0.0",
		}},
		{"host name target compares case-insensitively",
			[]Entry{{"*", 6443, "API.Example.com", 6443}},
			Entry{"*", 6443, "api.example.com", 6443}, false, nil},
		{"host name listener compares case-insensitively",
			[]Entry{{"FWD01", 6443, "10.0.0.1", 6443}},
			Entry{"fwd01", 6443, "10.0.0.2", 6443}, false, []string{
				"netsh interface portproxy set v4tov4 listenport=6443 listenaddress=FWD01 connectaddress=10.0.0.2 connectport=6443 protocol=tcp",
			}},
		{"absent, missing", []Entry{{"*", 8443, "192.168.1.10", 6443}}, want, true, nil},
		{"absent, present", []Entry{want}, want, true, []string{
			"netsh interface portproxy delete v4tov4 listenport=6443 listenaddress=*",
		}},
		{"absent ignores the target", []Entry{{"*", 6443, "10.1.1.1", 1}}, Entry{ListenAddress: "*", ListenPort: 6443}, true, []string{
			"netsh interface portproxy delete v4tov4 listenport=6443 listenaddress=*",
		}},
		{"absent removes both spellings once each", []Entry{
			{"0.0.0.0", 6443, "10.1.1.1", 1},
			{"*", 6443, "10.1.1.1", 1},
			{"0.0.0.0", 6443, "10.1.1.1", 1},
		}, want, true, []string{
			"netsh interface portproxy delete v4tov4 listenport=6443 listenaddress=0.0.0.0",
			"netsh interface portproxy delete v4tov4 listenport=6443 listenaddress=*",
		}},
		{"absent specific address leaves the wildcard", []Entry{{"*", 6443, "10.1.1.1", 1}},
			Entry{ListenAddress: "10.0.0.5", ListenPort: 6443}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmds, err := Plan(tt.current, tt.want, tt.absent)
			if err != nil {
				t.Fatal(err)
			}
			if got := texts(cmds); !reflect.DeepEqual(got, tt.cmds) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.cmds, "\n"))
			}
		})
	}
}

// TestPlanIdempotent applies a plan to a modelled netsh state, renders that
// state as netsh prints it, parses it back, and expects nothing more to do.
func TestPlanIdempotent(t *testing.T) {
	wants := []Entry{
		{"*", 6443, "192.168.1.10", 6443},
		{"0.0.0.0", 6443, "192.168.1.10", 6443},
		{"10.0.0.5", 16443, "apiserver.corp.example.com", 443},
	}
	starts := [][]Entry{
		nil,
		{{"*", 6443, "192.168.1.11", 6443}},
		{{"0.0.0.0", 6443, "192.168.1.11", 1}, {"*", 6443, "192.168.1.12", 2}},
		{{"10.0.0.5", 16443, "old.example.com", 443}, {"127.0.0.1", 5433, "wsl", 5432}},
	}
	for _, want := range wants {
		for _, start := range starts {
			for _, absent := range []bool{false, true} {
				state := append([]Entry(nil), start...)
				cmds, err := Plan(state, want, absent)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range cmds {
					state = applyNetsh(t, state, c.Args)
				}
				parsed, err := ParseShowV4ToV4(renderShow(state))
				if err != nil {
					t.Fatal(err)
				}
				again, err := Plan(parsed, want, absent)
				if err != nil {
					t.Fatal(err)
				}
				if len(again) != 0 {
					t.Errorf("want %v absent=%v from %v: second plan %v", want, absent, start, texts(again))
				}
			}
		}
	}
}

// applyNetsh models netsh's portproxy store: one entry per case-insensitive
// "listenaddress/listenport" key, addresses kept as typed.
func applyNetsh(t *testing.T, state []Entry, args []string) []Entry {
	t.Helper()
	kv := map[string]string{}
	for _, a := range args[5:] {
		k, v, _ := strings.Cut(a, "=")
		kv[k] = v
	}
	e := Entry{ListenAddress: kv["listenaddress"], ConnectAddress: kv["connectaddress"]}
	e.ListenPort, _ = rowPort("", kv["listenport"])
	e.ConnectPort, _ = rowPort("", kv["connectport"])
	idx := -1
	for i, s := range state {
		if strings.EqualFold(s.ListenAddress, e.ListenAddress) && s.ListenPort == e.ListenPort {
			idx = i
		}
	}
	switch args[3] {
	case "add", "set":
		if idx >= 0 {
			state[idx] = e
		} else {
			state = append(state, e)
		}
	case "delete":
		if idx < 0 {
			t.Fatalf("delete of a missing entry: %v", args)
		}
		state = append(state[:idx], state[idx+1:]...)
	}
	return state
}

func renderShow(state []Entry) string {
	var b strings.Builder
	if len(state) == 0 {
		return "\r\n"
	}
	b.WriteString("\r\nListen on ipv4:             Connect to ipv4:\r\n\r\nAddress         Port        Address         Port\r\n--------------- ----------  --------------- ----------\r\n")
	for _, e := range state {
		b.WriteString(padRight(e.ListenAddress, 16) + padRight(strconv.Itoa(e.ListenPort), 12) + padRight(e.ConnectAddress, 16) + strconv.Itoa(e.ConnectPort) + "\r\n")
	}
	return b.String() + "\r\n"
}

func padRight(s string, n int) string {
	if len(s) >= n {
		return s + " "
	}
	return s + strings.Repeat(" ", n-len(s))
}

func TestPlanRefusesBadValues(t *testing.T) {
	tests := []struct {
		name    string
		want    Entry
		absent  bool
		wantErr string
	}{
		{"empty listen address", Entry{"", 80, "10.0.0.1", 80}, false, "use * for every address"},
		{"listen port 0", Entry{"*", 0, "10.0.0.1", 80}, false, "listen port 0"},
		{"connect port too big", Entry{"*", 80, "10.0.0.1", 70000}, false, "connect port 70000"},
		{"IPv6 connect", Entry{"*", 80, "fe80::1", 80}, false, "not an IPv4 address"},
		{"unspecified connect", Entry{"*", 80, "0.0.0.0", 80}, false, "unspecified address"},
		{"wildcard connect", Entry{"*", 80, "*", 80}, false, "neither an IPv4 address nor a host name"},
		{"ampersand", Entry{"*", 80, "a&calc", 80}, false, "neither"},
		{"quote", Entry{`10.0.0.1"`, 80, "10.0.0.1", 80}, false, "neither"},
		{"percent", Entry{"*", 80, "%PATH%", 80}, false, "neither"},
		{"IPv4 with leading zeros", Entry{"*", 80, "010.0.0.1", 80}, false, "numeric"},
		{"IPv4 shorthand", Entry{"*", 80, "10.1", 80}, false, "numeric"},
		{"label too long", Entry{"*", 80, strings.Repeat("a", 64) + ".example", 80}, false, "1 to 63"},
		{"leading hyphen", Entry{"*", 80, "-x.example", 80}, false, "starts or ends"},
		{"space", Entry{"*", 80, "a b", 80}, false, "not allowed"},
		{"absent still checks the listener", Entry{"a|b", 80, "", 0}, true, "neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Plan(nil, tt.want, tt.absent)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestPlanRefusesUnsafeCurrentSpelling(t *testing.T) {
	// An entry handed in by a caller (not our parser) with a cmd.exe
	// metacharacter must not reach a command line.
	_, err := Plan([]Entry{{"*", 80, "x", 1}, {"0.0.0.0&calc", 80, "x", 1}}, Entry{"*", 80, "10.0.0.1", 80}, false)
	if err != nil {
		t.Fatalf("a foreign listener spelling that is not ours must not matter: %v", err)
	}
	_, err = Plan([]Entry{{"FWD^1", 80, "x", 1}}, Entry{"fwd^1", 80, "10.0.0.1", 80}, false)
	if err == nil {
		t.Fatal("want an error")
	}
}

func TestEntryCommands(t *testing.T) {
	e := Entry{"*", 6443, "k8s.example", 6443}
	tests := []struct {
		name string
		cmd  func() (Command, error)
		args []string
	}{
		{"add", func() (Command, error) { return AddCommand(e) }, []string{"netsh", "interface", "portproxy", "add", "v4tov4", "listenport=6443", "listenaddress=*", "connectaddress=k8s.example", "connectport=6443", "protocol=tcp"}},
		{"set", func() (Command, error) { return SetCommand(e) }, []string{"netsh", "interface", "portproxy", "set", "v4tov4", "listenport=6443", "listenaddress=*", "connectaddress=k8s.example", "connectport=6443", "protocol=tcp"}},
		{"delete", func() (Command, error) { return DeleteCommand(e) }, []string{"netsh", "interface", "portproxy", "delete", "v4tov4", "listenport=6443", "listenaddress=*"}},
		{"show", func() (Command, error) { return ShowV4ToV4Command(), nil }, []string{"netsh", "interface", "portproxy", "show", "v4tov4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.cmd()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Args, tt.args) {
				t.Errorf("args %q, want %q", c.Args, tt.args)
			}
			if c.Text != strings.Join(tt.args, " ") || c.String() != c.Text {
				t.Errorf("text %q", c.Text)
			}
		})
	}
}
