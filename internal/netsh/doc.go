// Package netsh plans the Windows side of a forwarder: a port proxy entry
// (`netsh interface portproxy ... v4tov4`) and the inbound firewall rule that
// lets traffic reach it (`netsh advfirewall firewall ...`). It only parses
// netsh output and builds command lines; running them is the caller's job.
//
// hostplan reaches Windows through OpenSSH for Windows, whose default shell is
// cmd.exe, so every Command carries the cmd.exe command line next to the
// argument vector, and values that cmd.exe would reinterpret are refused
// rather than escaped: there is no escaping that survives both cmd.exe and
// netsh's own argument parsing for all of them.
//
// What the parsers rely on, and why:
//
//   - `show v4tov4` prints a localised header ("Listen on ipv4: / Connect to
//     ipv4:", "Écouter sur ipv4 : / Connecter à ipv4 :", "侦听 ipv4: / 连接到
//     ipv4:", ...), then a line of four dash groups, then one row per entry:
//     address, port, address, port, padded with spaces. Over SSH the header
//     arrives in the console's OEM code page (CP850, GBK, ...), not UTF-8, so
//     header text is never read: rows are recognised by shape after the dash
//     line. With no entries netsh prints only blank lines.
//   - netsh stores an entry as the registry value
//     HKLM\SYSTEM\CurrentControlSet\Services\PortProxy\v4tov4\tcp
//     "<listenaddress>/<listenport>" = "<connectaddress>/<connectport>", with
//     the addresses exactly as typed, and `show` prints them back verbatim: an
//     entry added with listenaddress=* shows "*", one added with 0.0.0.0 shows
//     "0.0.0.0". The two are different entries to netsh (deleting one leaves
//     the other), yet both make the proxy listen on every IPv4 address, so they
//     collide on the port. Normalize compares them as the proxy does; Plan
//     then edits or deletes the entry under the spelling that exists.
//     Registry value names are case-insensitive, so host names are too.
//   - `set v4tov4` changes the target of an existing listen address and port
//     in place, which is what Plan uses when the listener exists but forwards
//     elsewhere.
//   - `advfirewall firewall show rule name=X` exits 0 and prints one block per
//     rule of that name (netsh allows several), each a "Rule Name: X" line, a
//     dash line and "Label: value" lines; it exits 1 with "No rules match the
//     specified criteria." (localised) when there is none. The exit code is
//     what decides existence, and the number of blocks is counted by their
//     dash lines, so neither depends on the language. Field labels are only
//     understood in English; for other languages see Rule.Localized.
package netsh
