package winstandin

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"
)

// run runs line on the stand-in whose state is at statePath.
func run(t *testing.T, statePath, line string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(line, statePath, &out, &errb)
	return out.String(), errb.String(), code
}

func newState(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "state.json")
}

const notRecognized = "' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"

func TestCmdLine(t *testing.T) {
	tests := []struct {
		name, line     string
		stdout, stderr string
		code           int
	}{
		{"echo", "echo hello", "hello\r\n", "", 0},
		{"echo keeps inner spaces and case", "ECHO Hello  World", "Hello  World\r\n", "", 0},
		{"echo drops only one separator", "echo  x", " x\r\n", "", 0},
		{"bare echo", "echo", "ECHO is on.\r\n", "", 0},
		{"echo with only spaces", "echo   ", "ECHO is on.\r\n", "", 0},
		{"echo dot", "echo.", "\r\n", "", 0},
		{"echo dot text", "echo.hi", "hi\r\n", "", 0},
		{"echox is not echo", "echox hi", "", "'echox" + notRecognized, 1},
		{"leading blanks and @", "  @echo hi", "hi\r\n", "", 0},
		{"ver", "ver", verText, "", 0},
		{"VER", "VER", verText, "", 0},
		{"hostname", "hostname", "WINFWD01\r\n", "", 0},
		{"hostname with an option", "hostname -f", "", "sethostname: Use the Network Control Panel Applet to set hostname.\r\n", 1},
		{"empty line", "", "", "", 0},
		{"blank line", "  \t", "", "", 0},

		{"& keeps trailing spaces", "echo a & echo b", "a \r\nb\r\n", "", 0},
		{"& without spaces", "echo a&echo b", "a\r\nb\r\n", "", 0},
		{"& runs after a failure", "bogus & echo b", "b\r\n", "'bogus" + notRecognized, 0},
		{"& exit code is the last one", "echo a& bogus", "a\r\n", "'bogus" + notRecognized, 1},
		{"trailing &", "echo a &", "a \r\n", "", 0},
		{"&& after success", "echo a&& echo b", "a\r\nb\r\n", "", 0},
		{"&& after failure", "bogus && echo b", "", "'bogus" + notRecognized, 1},
		{"|| after failure", "bogus || echo b", "b\r\n", "'bogus" + notRecognized, 0},
		{"|| after success", "echo a|| echo b", "a\r\n", "", 0},
		{"&& binds tighter than ||", "echo a|| bogus && echo c", "a\r\n", "", 0},
		{"|| then &&", "bogus || echo b&& echo c", "b\r\nc\r\n", "'bogus" + notRecognized, 0},
		{"&& then || on failure", "echo a&& bogus || echo c", "a\r\nc\r\n", "'bogus" + notRecognized, 0},
		{"& binds loosest", "bogus && echo b & echo c", "c\r\n", "'bogus" + notRecognized, 0},
		{"leading &&", "&& echo a", "", "&& was unexpected at this time.\r\n", 255},
		{"empty between &", "echo a & & echo b", "", "& was unexpected at this time.\r\n", 255},
		{"trailing ||", "echo a ||", "", "The syntax of the command is incorrect.\r\n", 255},

		{"quotes protect operators", `echo "a & b || c && d"`, "\"a & b || c && d\"\r\n", "", 0},
		{"quotes protect redirection", `echo "a | b > c < d"`, "\"a | b > c < d\"\r\n", "", 0},
		{"unterminated quote runs to the end", `echo "a & b`, "\"a & b\r\n", "", 0},
		{"quote closes", `echo "a" & echo b`, "\"a\" \r\nb\r\n", "", 0},
		{"caret escapes", "echo a^&b ^| c^>d", "a&b | c>d\r\n", "", 0},
		{"caret in quotes is literal", `echo "a^&b"`, "\"a^&b\"\r\n", "", 0},
		{"pipe", "echo a | findstr a", "", "winstandin: pipes (|) are not supported by the Windows stand-in\r\n", 255},
		{"output redirection", "echo a > out.txt", "", "winstandin: redirection (>) is not supported by the Windows stand-in\r\n", 255},
		{"input redirection", "sort < in.txt", "", "winstandin: redirection (<) is not supported by the Windows stand-in\r\n", 255},
		{"redirection refused before anything runs", "echo a & echo b 2>&1", "", "winstandin: redirection (>) is not supported by the Windows stand-in\r\n", 255},

		{"% expansion", "echo %OS% %COMPUTERNAME% %USERNAME% %PROCESSOR_ARCHITECTURE% %SystemRoot%", "Windows_NT WINFWD01 Administrator AMD64 C:\\Windows\r\n", "", 0},
		{"% names are case-insensitive", "echo %os%-%ComputerName%-%SYSTEMROOT%", "Windows_NT-WINFWD01-C:\\Windows\r\n", "", 0},
		{"undefined stays", "echo %FOO% %USERNAME%", "%FOO% Administrator\r\n", "", 0},
		{"undefined resumes at its closing %", "echo %a %OS% c%", "%a Windows_NT c%\r\n", "", 0},
		{"lone %", "echo 100%", "100%\r\n", "", 0},
		{"%% is not an escape on a command line", "echo %%OS%%", "%Windows_NT%\r\n", "", 0},
		{"% expands inside quotes", `echo "%OS%"`, "\"Windows_NT\"\r\n", "", 0},
		{"% expansion before operators", "echo hostname=%COMPUTERNAME%& echo user=%USERNAME%& ver",
			"hostname=WINFWD01\r\nuser=Administrator\r\n" + verText, "", 0},

		{"first line only (LF)", "echo first\necho second", "first\r\n", "", 0},
		{"first line only (CRLF)", "echo first\r\necho second", "first\r\n", "", 0},
		{"trailing CR removed", "echo a\r", "a\r\n", "", 0},
		{"operators on the second line ignored", "echo a\n& bogus", "a\r\n", "", 0},

		{"POSIX command", "uname -a", "", "'uname" + notRecognized, 1},
		{"POSIX test", "test -e /etc/passwd && echo yes", "", "'test" + notRecognized, 1},
		{"POSIX path", "/bin/sh -c true", "", "'/bin/sh" + notRecognized, 1},
		{"quoted program name kept in the message", `"my tool" x`, "", `'"my tool"` + notRecognized, 1},
		{"netsh without arguments", "netsh", "", "winstandin: netsh's interactive mode is not supported by the Windows stand-in\r\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := run(t, newState(t), tt.line)
			if stdout != tt.stdout || stderr != tt.stderr || code != tt.code {
				t.Errorf("Run(%q):\n stdout %q\n stderr %q\n exit %d\nwant\n stdout %q\n stderr %q\n exit %d",
					tt.line, stdout, stderr, code, tt.stdout, tt.stderr, tt.code)
			}
		})
	}
}

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  a  b\tc ", []string{"a", "b", "c"}},
		{`name="hostplan api server" dir=in`, []string{"name=hostplan api server", "dir=in"}},
		{`"a b"c d`, []string{"a bc", "d"}},
		{`""`, []string{""}},
		{`a "" b`, []string{"a", "", "b"}},
		{`"a ""b"" c"`, []string{`a "b" c`}},
		{`a\b c\\d`, []string{`a\b`, `c\\d`}},
		{`a\"b`, []string{`a"b`}},
		{`a\\"b c"`, []string{`a\b c`}},
		{`a\\\"b`, []string{`a\"b`}},
		{`"unterminated x`, []string{"unterminated x"}},
	}
	for _, tt := range tests {
		if got := splitArgs(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("splitArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestProgram(t *testing.T) {
	for _, name := range []string{"netsh", "NETSH.EXE", `"netsh.exe"`, `C:\Windows\System32\netsh.exe`, `"C:\WINDOWS\system32\NetSh.exe"`} {
		stdout, stderr, code := run(t, newState(t), name+" interface portproxy show v4tov4")
		if stdout != proxyEmpty || stderr != "" || code != 0 {
			t.Errorf("%s: stdout %q, stderr %q, exit %d", name, stdout, stderr, code)
		}
	}
}
