# The forwarders part: a port forward and the Security Center allowlist through
# iptables (the benchmark's lab hosts run no firewalld), on the same hosts.
task "forwarding" {
  on = ["lab"]

  port_forward "apiserver" {
    listen_port = 16443
    to_address  = "10.0.0.5"
    to_port     = 6443
    masquerade  = true
    method      = "iptables"
  }

  allowlist "security-center" {
    region = "cn-hangzhou"
    ports  = [6443, 16443]
    method = "iptables"
  }
}
